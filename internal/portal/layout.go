package portal

// layout is every page: a header with the navigation, then the page's
// content. Forms post to /portal/… with the session's CSRF token.
const layout = `<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{t .Lang .Page}} · {{t .Lang "title"}}</title>
<link rel="stylesheet" href="/portal/style.css">
{{if eq .Page "card"}}<script src="{{.StripeJS}}"></script>{{end}}
</head>
<body>
{{- $l := .Lang}}
<a href="#main" class="skip">{{t $l "skip"}}</a>
{{if .TestMode}}<div class="test" role="status">{{t $l "test_mode"}}</div>{{end}}
<header>
<strong>{{t $l "title"}}{{with .Account}} · {{.Name}}{{end}}</strong>
{{if .Account}}<nav aria-label="{{t $l "title"}}"><ul>
{{range $p := pageList}}<li><a href="/portal/{{if ne $p "overview"}}{{$p}}{{end}}"{{if eq $p $.Page}} aria-current="page"{{end}}>{{t $l $p}}</a></li>{{end}}
<li><form method="post" action="/portal/logout" class="logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">{{t $l "logout"}}</button></form></li>
</ul></nav>{{end}}
</header>
<main id="main">
{{with .Flash}}<p class="{{if $.OK}}ok{{else}}warn{{end}}" role="status">{{.}}</p>{{end}}
{{if eq .Page "error"}}
<h1>{{t $l "error"}}</h1>
<p>{{.Message}}</p>
{{else if eq .Page "overview"}}
<h1>{{t $l "overview"}}</h1>
{{with .SuspendedAt}}<p class="warn" role="alert">{{printf (t $l "suspended_since") (date $l .)}}</p>{{end}}
{{with .SuspendsAt}}<p class="warn" role="alert">{{printf (t $l "suspends_at") (date $l .)}}</p>{{end}}
<dl>
<dt>{{t $l "status"}}</dt><dd id="status">{{t $l (print .Account.Status)}}</dd>
<dt>{{t $l "balance"}}</dt><dd id="balance">{{money $l .Account.CreditBalance}}</dd>
</dl>
<h2>{{t $l "unpaid"}}</h2>
{{if .Open}}
<table id="unpaid" class="stack"><thead><tr><th scope="col">{{t $l "number"}}</th><th scope="col">{{t $l "period"}}</th><th scope="col">{{t $l "state"}}</th><th scope="col" class="num">{{t $l "due"}}</th><th scope="col">{{t $l "pdf"}}</th></tr></thead><tbody>
{{range .Open}}<tr><td data-label="{{t $l "number"}}">{{.Number}}</td><td data-label="{{t $l "period"}}">{{.Period}}</td><td data-label="{{t $l "state"}}">{{t $l (print .Status)}}</td><td class="num" data-label="{{t $l "due"}}">{{money $l .AmountDue}}</td><td data-label="{{t $l "pdf"}}"><a href="/portal/documents/{{.Number}}.pdf">{{t $l "pdf"}}<span class="sr"> {{.Number}}</span></a></td></tr>{{end}}
</tbody></table>
<p>{{t $l "howto"}} <a href="/portal/billing">{{t $l "billing"}}</a></p>
{{else}}<p id="all-paid">{{t $l "none_unpaid"}}</p>{{end}}
{{else if eq .Page "billing"}}
<h1>{{t $l "billing"}}</h1>
<h2>{{t $l "methods"}}</h2>
{{with .Method}}<p id="method">{{t $l .Type}} · {{.ID}}{{if .MandateRef}} · {{t $l "mandate"}} {{.MandateRef}} ({{.MandateIBAN}}) · <a href="/portal/mandate.pdf">{{t $l "mandate_pdf"}}</a>{{end}}</p>
{{else}}<p id="method">{{t $l "no_method"}}</p>{{end}}
<form method="post" action="/portal/billing/card">
<h3>{{t $l "add_card"}}</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .StripeCards}}<p class="hint" id="card-how">{{t $l "card_stripe"}}</p>
<button type="submit" aria-describedby="card-how">{{t $l "enter_card"}}</button>
{{else}}<label for="card">{{t $l "card_id"}}</label>
<select id="card" name="id"><option>pm_card_visa</option><option>pm_card_mastercard</option><option>pm_card_chargeDeclined</option><option>pm_card_chargeDeclinedInsufficientFunds</option></select>
<button type="submit">{{t $l "add"}}</button>
{{end}}</form>
<form method="post" action="/portal/billing/sepa">
<h3>{{t $l "add_sepa"}}</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="iban">{{t $l "iban"}}</label><input id="iban" name="iban" required autocomplete="off" inputmode="text" spellcheck="false">
<label for="bic">{{t $l "bic"}}</label><input id="bic" name="bic" autocomplete="off">
<label for="holder">{{t $l "holder"}}</label><input id="holder" name="holder_name" required autocomplete="name" value="{{.Account.Name}}">
<p class="hint" id="consent">{{t $l "mandate_consent"}}</p>
<button type="submit" aria-describedby="consent">{{t $l "sign"}}</button>
</form>
{{if .PayPal}}<form method="post" action="/portal/billing/credit">
<h3>{{t $l "buy_credit"}}</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="amount">{{t $l "amount"}}</label><input id="amount" name="amount" required inputmode="decimal" aria-describedby="bounds">
<p class="hint" id="bounds">{{printf (t $l "credit_bounds") (money $l .CreditMin) (money $l .CreditMax)}}</p>
<button type="submit">{{t $l "buy"}}</button>
</form>{{end}}
<h2>{{t $l "documents"}}</h2>
<table id="documents" class="stack"><thead><tr><th scope="col">{{t $l "number"}}</th><th scope="col">{{t $l "period"}}</th><th scope="col">{{t $l "state"}}</th><th scope="col" class="num">{{t $l "due"}}</th><th scope="col">{{t $l "pdf"}}</th></tr></thead><tbody>
{{range .Invoices}}<tr><td data-label="{{t $l "number"}}">{{.Number}}</td><td data-label="{{t $l "period"}}">{{.Period}}</td><td data-label="{{t $l "state"}}">{{t $l (print .Status)}}</td><td class="num" data-label="{{t $l "due"}}">{{money $l .AmountDue}}</td><td data-label="{{t $l "pdf"}}"><a href="/portal/documents/{{.Number}}.pdf">{{t $l "pdf"}}<span class="sr"> {{.Number}}</span></a>{{with .CreditNote}} · <a href="/portal/documents/{{.}}.pdf">{{t $l "credit_note"}} {{.}}</a>{{end}}</td></tr>{{end}}
</tbody></table>
<h2>{{t $l "history"}}</h2>
{{if .Payments}}<table id="payments" class="stack"><thead><tr><th scope="col">{{t $l "date"}}</th><th scope="col">{{t $l "what"}}</th><th scope="col">{{t $l "number"}}</th><th scope="col" class="num">{{t $l "amount_col"}}</th></tr></thead><tbody>
{{range .Payments}}<tr><td data-label="{{t $l "date"}}">{{datetime $l .At}}</td><td data-label="{{t $l "what"}}">{{t $l .Type}} · {{if eq .Type "attempt"}}{{t $l .Method}} · {{outcome $l .Outcome}}{{if .Code}} ({{.Code}}){{end}}{{else}}{{entry $l .Kind}}{{end}}</td><td data-label="{{t $l "number"}}">{{with .InvoiceNumber}}<a href="/portal/documents/{{.}}.pdf">{{.}}</a>{{end}}</td><td class="num" data-label="{{t $l "amount_col"}}">{{money $l .Amount}}</td></tr>{{end}}
</tbody></table>{{else}}<p>{{t $l "no_history"}}</p>{{end}}
{{else if eq .Page "card"}}
<h1>{{t $l "add_card"}}</h1>
<noscript><p class="warn">{{t $l "card_nojs"}}</p></noscript>
{{/* Without JavaScript the form only leads back to Billing; the holder's
     name has no name attribute, so that nothing of the card is ever sent
     here. card.js confirms the SetupIntent with Stripe instead. */}}
<form id="card-form" method="get" action="/portal/billing" data-key="{{.StripeKey}}" data-secret="{{.ClientSecret}}" data-locale="{{.Lang}}"
 data-return="/portal/billing?done=card" data-unavailable="{{t $l "card_unavailable"}}">
<p class="hint" id="card-how">{{t $l "card_stripe"}}</p>
<label for="holder">{{t $l "card_holder"}}</label><input id="holder" required autocomplete="cc-name" value="{{.Account.Name}}">
<p class="label" id="card-label">{{t $l "card_field"}}</p>
<div id="card-element" role="group" aria-labelledby="card-label"></div>
<p id="card-errors" class="warn" role="alert" hidden></p>
<button type="submit" aria-describedby="card-how">{{t $l "add"}}</button>
</form>
<p><a href="/portal/billing">{{t $l "back"}}</a></p>
<script src="/portal/card.js"></script>
{{else if eq .Page "referrals"}}
<h1>{{t $l "referrals"}}</h1>
<p><label for="reflink">{{t $l "ref_link"}}</label><input id="reflink" readonly value="{{.Referrals.Link}}"></p>
<p>{{t $l "ref_code"}} <code>{{.Referrals.Code}}</code></p>
<h2>{{t $l "referees"}}</h2>
{{if .Referrals.Referees}}<table class="stack"><thead><tr><th scope="col">{{t $l "name"}}</th><th scope="col">{{t $l "window"}}</th><th scope="col" class="num">{{t $l "months_left"}}</th></tr></thead><tbody>
{{range .Referrals.Referees}}<tr><td data-label="{{t $l "name"}}">{{.Name}}</td><td data-label="{{t $l "window"}}">{{.FirstPeriod}} – {{.LastPeriod}}</td><td class="num" data-label="{{t $l "months_left"}}">{{.MonthsLeft}}</td></tr>{{end}}
</tbody></table>{{else}}<p>{{t $l "no_referees"}}</p>{{end}}
<h2>{{t $l "rewards"}}</h2>
{{if .Referrals.Rewards}}<table><thead><tr><th scope="col">{{t $l "period"}}</th><th scope="col" class="num">{{t $l "amount_col"}}</th></tr></thead><tbody>
{{range .Referrals.Rewards}}<tr><td>{{.Period}}</td><td class="num">{{money $l .Amount}}</td></tr>{{end}}
</tbody></table>{{else}}<p>{{t $l "no_rewards"}}</p>{{end}}
{{else if eq .Page "timeline"}}
<h1>{{t $l "timeline"}}</h1>
{{if .Timeline}}<table id="timeline" class="wrap"><thead><tr><th scope="col">{{t $l "date"}}</th><th scope="col">{{t $l "event"}}</th></tr></thead><tbody>
{{range .Timeline}}<tr><td data-label="{{t $l "date"}}">{{datetime $l .At}}</td><td data-label="{{t $l "event"}}">{{event $l .Kind}}</td></tr>{{end}}
</tbody></table>{{else}}<p>{{t $l "no_events"}}</p>{{end}}
{{end}}
</main>
</body>
</html>
`
