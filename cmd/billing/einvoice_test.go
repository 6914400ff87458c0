package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// A month of every e-invoice case (SPEC §13): a French business (VAT
// number, so SIREN; standard 20 %) paid by card, a French business known
// by its SIREN and billing address alone (no VAT number), an EU business
// (reverse charge AE), a business outside the EU (O, outside the scope), a
// referrer with a referral discount and one whose reward exceeds its
// invoice (the carry-over: a zero invoice), a business paid whole by
// prepaid credit at issue, a SEPA debit with its mandate, a declined card,
// and a credit note; and consumers, who have none: French (the referees),
// EU (OSS) and outside the EU.
const einvoiceAccounts = `{"id":"acc_fr","name":"Acme SAS","email":"billing@acme.test","country":"FR","vat_number":"FR03552081317","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_de","name":"Berlin GmbH","email":"ap@berlin.test","country":"DE","vat_number":"DE123456789","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_us","name":"Boston Inc.","email":"ap@boston.test","country":"US","vat_number":"US123456789","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_ref","name":"Referrer SARL","email":"compta@referrer.test","country":"FR","vat_number":"FR44732829320","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_referee","name":"Jeanne Martin","email":"jeanne@example.test","country":"FR","created_at":"2026-10-02T10:00:00Z","referred_by":"acc_ref","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_credit","name":"Prepaid SAS","email":"compta@prepaid.test","country":"FR","vat_number":"FR83404833048","created_at":"2026-03-04T10:00:00Z"}
{"id":"acc_sepa","name":"Debit SA","email":"compta@debit.test","country":"FR","vat_number":"FR96552100554","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"sepa_debit","id":"pm_sepa_debit_success"}}
{"id":"acc_declined","name":"Declined SAS","email":"compta@declined.test","country":"FR","vat_number":"FR82542065479","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_chargeDeclined"}}
{"id":"acc_siren","name":"Atelier Dubois EI","email":"compta@dubois.test","country":"FR","siren":"123456782","address":{"line1":"4 rue des Tanneurs","postal_code":"67000","city":"Strasbourg"},"created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_carry","name":"Small Referrer SARL","email":"compta@small.test","country":"FR","vat_number":"FR35123456790","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_big","name":"Paul Durand","email":"paul@example.test","country":"FR","created_at":"2026-10-02T10:00:00Z","referred_by":"acc_carry","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_it","name":"Giulia Rossi","email":"giulia@example.test","country":"IT","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_uscons","name":"John Smith","email":"john@example.test","country":"US","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
`

// einvoiceConsumers have a plain PDF and no e-invoice.
var einvoiceConsumers = map[string]bool{"acc_referee": true, "acc_big": true, "acc_it": true, "acc_uscons": true}

const einvoiceCatalog = `{"resource":"container:M","description":"M container","price_per_hour":"0.0278","effective_from":"2026-01-01T00:00:00Z"}
{"resource":"container:L","description":"L container","price_per_hour":"0.0556","effective_from":"2026-01-01T00:00:00Z"}
{"resource":"container:L","description":"L container","price_per_hour":"0.0600","effective_from":"2026-10-15T00:00:00Z"}
`

func einvoiceUsage() string {
	var b strings.Builder
	for _, a := range []string{"acc_fr", "acc_de", "acc_us", "acc_ref", "acc_referee", "acc_credit", "acc_sepa", "acc_declined", "acc_siren", "acc_it", "acc_uscons"} {
		b.WriteString(`{"id":"` + a + `-1","account_id":"` + a + `","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-11T00:00:00Z"}` + "\n")
	}
	// The carry-over: the referee's 20 % exceeds the referrer's invoice.
	b.WriteString(`{"id":"acc_carry-1","account_id":"acc_carry","app":"web","resource":"container:M","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T10:00:00Z"}` + "\n")
	b.WriteString(`{"id":"acc_big-1","account_id":"acc_big","app":"web","resource":"container:M","quantity":20,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-11T00:00:00Z"}` + "\n")
	// A line billed at two prices, and seconds that are not whole hours.
	b.WriteString(`{"id":"acc_fr-2","account_id":"acc_fr","app":"db","resource":"container:L","quantity":1,"started_at":"2026-10-10T00:00:00Z","ended_at":"2026-10-20T00:00:07Z"}` + "\n")
	return b.String()
}

// validatorPath is the official validators' script: the copy kept
// unchanged in third_party/einvoice (SPEC §13's ../shared/einvoice), so
// that a clone anywhere validates with the same rules.
func validatorPath(t *testing.T) string {
	if p := os.Getenv("EINVOICE_VALIDATE"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../third_party/einvoice/validate")
	require.NoError(t, err)
	return p
}

// validate runs the validator once over files and returns its report lines
// per file. Without the validator or its packages the test is skipped, or
// fails in CI (CI=true), with how to install them.
func validate(t *testing.T, files ...string) map[string][]string {
	t.Helper()
	script := validatorPath(t)
	missing := func(why string) {
		msg := why + ": run scripts/einvoice-deps (apt-get install -y libxml2-utils libsaxonhe-java default-jre-headless poppler-utils)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(script); err != nil {
		missing("no e-invoice validator at " + script)
	}
	cmd := exec.Command(script, files...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		missing("the e-invoice validator cannot run: " + strings.TrimSpace(stderr.String()))
	}
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", script, err)
	}
	report := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f, rest, _ := strings.Cut(l, ": ")
		report[f] = append(report[f], rest)
	}
	require.Equal(t, len(report) == 0, err == nil, "the validator's status agrees with its report: %s", out)
	return report
}

var summation = regexp.MustCompile(`<ram:(LineTotalAmount|AllowanceTotalAmount|TaxBasisTotalAmount|TaxTotalAmount|GrandTotalAmount|TotalPrepaidAmount|DuePayableAmount)[^>]*>([^<]*)</ram:`)

// totalsOf reads the document totals of an e-invoice (the last
// LineTotalAmount is the header's).
func totalsOf(t *testing.T, xml []byte) map[string]string {
	out := map[string]string{}
	i := strings.Index(string(xml), "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>")
	require.Positive(t, i)
	for _, m := range summation.FindAllStringSubmatch(string(xml[i:]), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestEInvoicesOfAMonth(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for k, v := range map[string]string{
		"BILLING_SELLER_NAME": "Cloud SAS", "BILLING_SELLER_LEGAL": "SAS", "BILLING_SELLER_CAPITAL": "10000.00", "BILLING_SELLER_RCS": "Paris",
		"BILLING_SELLER_ADDRESS": "1 rue de l'Exemple|Bâtiment B|75001 Paris|France", "BILLING_SELLER_VAT_NUMBER": "FR40303265045",
		"BILLING_SELLER_SIREN": "303265045", "BILLING_SELLER_IBAN": "FR7630006000011234567890189", "BILLING_SELLER_BIC": "AGRIFRPPXXX",
		"BILLING_SELLER_EMAIL": "billing@cloud.test", "BILLING_SEPA_CREDITOR_ID": "FR72ZZZ123456",
	} {
		c.env[k] = v
	}
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", einvoiceCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", einvoiceAccounts))
	c.ok("usage", "import", writeFile(t, "usage.ndjson", einvoiceUsage()))
	c.ok("credit", "add", "--account", "acc_credit", "--amount", "100.00", "--reference", "PREPAID-1")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE payment_methods SET mandate_id = 'MANDATE-0001' WHERE account_id = 'acc_sepa' AND replaced_at IS NULL`)
	require.NoError(t, err)

	c.ok("run", "--period", "2026-10")
	c.ok("worker", "--until-idle")
	var invs []struct {
		Number, Status, Subtotal, Discount, Tax, Total string
		AccountID                                      string `json:"account_id"`
		AmountPaid                                     string `json:"amount_paid"`
		AmountDue                                      string `json:"amount_due"`
		CreditApplied                                  string `json:"credit_applied"`
	}
	c.json(&invs, "invoices", "list", "--period", "2026-10", "--json")
	require.Len(t, invs, 13)
	byAccount := map[string]int{}
	for i, inv := range invs {
		byAccount[inv.AccountID] = i
	}
	// The cases are what they say.
	require.NotEqual(t, "0.00", invs[byAccount["acc_ref"]].Discount)
	require.Equal(t, "0.00", invs[byAccount["acc_carry"]].Total, "the carry-over referrer owes nothing")
	require.Equal(t, invs[byAccount["acc_carry"]].Subtotal, invs[byAccount["acc_carry"]].Discount)
	require.Equal(t, invs[byAccount["acc_credit"]].Total, invs[byAccount["acc_credit"]].CreditApplied)
	require.Equal(t, "open", invs[byAccount["acc_declined"]].Status)

	// The French business's invoice is voided: its credit note.
	fr := invs[byAccount["acc_fr"]]
	var voided struct {
		CreditNote struct{ Number, Total, Subtotal, Tax string } `json:"credit_note"`
	}
	c.json(&voided, "invoices", "void", fr.Number, "--reason", "wrong usage")
	c.ok("worker", "--until-idle")
	cn := voided.CreditNote.Number
	require.NotEmpty(t, cn)

	dir := t.TempDir()
	var files []string
	file := map[string]string{} // number -> file
	xmls := map[string][]byte{}
	write := func(number string) {
		f := filepath.Join(dir, number+".xml")
		out := c.ok("invoices", "xml", number, "-o", f)
		require.Contains(t, out, `"number": "`+number+`"`)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		files, file[number], xmls[number] = append(files, f), f, b
	}
	for _, inv := range invs {
		if einvoiceConsumers[inv.AccountID] {
			continue
		}
		write(inv.Number)
		// Amounts equal the invoice JSON to the cent.
		got := totalsOf(t, xmls[inv.Number])
		want := map[string]string{
			"LineTotalAmount": inv.Subtotal, "AllowanceTotalAmount": inv.Discount, "TaxBasisTotalAmount": billing.MustParseMoney(inv.Subtotal).Sub(billing.MustParseMoney(inv.Discount)).String(),
			"TaxTotalAmount": inv.Tax, "GrandTotalAmount": inv.Total, "TotalPrepaidAmount": inv.AmountPaid, "DuePayableAmount": inv.AmountDue,
		}
		if inv.AccountID == "acc_fr" {
			// Voided since: its e-invoice is the one it was issued with.
			want["DuePayableAmount"] = billing.MustParseMoney(inv.Total).Sub(billing.MustParseMoney(inv.AmountPaid)).String()
		}
		require.Equal(t, want, got, "%s (%s)", inv.Number, inv.AccountID)
	}
	write(cn)
	neg := func(s string) string { return billing.MustParseMoney(s).Neg().String() }
	require.Equal(t, neg(voided.CreditNote.Total), totalsOf(t, xmls[cn])["GrandTotalAmount"])
	require.Equal(t, neg(voided.CreditNote.Subtotal), totalsOf(t, xmls[cn])["LineTotalAmount"])
	require.Equal(t, "0.00", totalsOf(t, xmls[cn])["DuePayableAmount"])

	// What each case says.
	x := func(account string) string { return string(xmls[invs[byAccount[account]].Number]) }
	require.Contains(t, x("acc_fr"), `<ram:ID schemeID="0002">552081317</ram:ID>`, "the buyer's SIREN, from its VAT number")
	require.Contains(t, x("acc_fr"), `<ram:CategoryCode>S</ram:CategoryCode>`)
	require.Contains(t, x("acc_fr"), `<ram:BilledQuantity unitCode="HUR">`)
	require.Contains(t, x("acc_de"), `<ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode>`)
	require.Contains(t, x("acc_de"), `<ram:ID schemeID="VA">DE123456789</ram:ID>`)
	require.Contains(t, x("acc_us"), `<ram:ExemptionReasonCode>VATEX-EU-O</ram:ExemptionReasonCode>`)
	require.Contains(t, x("acc_ref"), `<ram:Reason>Referral rewards (1 referred accounts)</ram:Reason>`)
	require.NotContains(t, x("acc_ref"), "acc_referee", "a referrer's document never names another customer's account")
	require.Contains(t, x("acc_sepa"), `<ram:DirectDebitMandateID>MANDATE-0001</ram:DirectDebitMandateID>`)
	require.Contains(t, x("acc_sepa"), `<ram:CreditorReferenceID>FR72ZZZ123456</ram:CreditorReferenceID>`)
	require.Contains(t, x("acc_sepa"), `<ram:TypeCode>59</ram:TypeCode>`)
	require.Contains(t, x("acc_declined"), `<ram:TypeCode>48</ram:TypeCode>`)
	require.Contains(t, x("acc_declined"), `<ram:IBANID>FR7630006000011234567890189</ram:IBANID>`)
	require.Contains(t, x("acc_siren"), `<ram:ID schemeID="0002">123456782</ram:ID>`, "the buyer's stored SIREN")
	require.Contains(t, x("acc_siren"), `<ram:LineOne>4 rue des Tanneurs</ram:LineOne>`, "the buyer's billing address")
	require.Contains(t, x("acc_siren"), `<ram:CityName>Strasbourg</ram:CityName>`)
	buyer := x("acc_siren")[strings.Index(x("acc_siren"), "<ram:BuyerTradeParty>"):strings.Index(x("acc_siren"), "</ram:BuyerTradeParty>")]
	require.NotContains(t, buyer, "SpecifiedTaxRegistration", "no VAT number the buyer does not have")
	require.Contains(t, x("acc_carry"), `<ram:GrandTotalAmount>0.00</ram:GrandTotalAmount>`)
	require.NotContains(t, x("acc_carry"), "acc_big", "a referrer's document never names another customer's account")
	require.Contains(t, string(xmls[cn]), `<ram:TypeCode>381</ram:TypeCode>`)
	require.Contains(t, string(xmls[cn]), `<ram:IssuerAssignedID>`+fr.Number+`</ram:IssuerAssignedID>`)

	// Consumers have none, in France, elsewhere in the EU (OSS: their
	// country's VAT) or outside it.
	var consumerNumbers []string
	for account := range einvoiceConsumers {
		number := invs[byAccount[account]].Number
		consumerNumbers = append(consumerNumbers, number)
		code, _, stderr := c.run("invoices", "xml", number, "-o", filepath.Join(dir, "consumer.xml"))
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, number+": account "+account+" is a consumer: no e-invoice (SPEC §13)")
		require.NoFileExists(t, filepath.Join(dir, "consumer.xml"))
	}
	var regimes map[string]string
	require.NoError(t, conn.QueryRow(ctx, `SELECT jsonb_object_agg(account_id, vat_treatment) FROM invoices WHERE account_id IN ('acc_it', 'acc_uscons')`).Scan(&regimes))
	require.Equal(t, map[string]string{"acc_it": "oss", "acc_uscons": "outside_eu"}, regimes)

	// Every version of a business document was stored with its e-invoice,
	// in the same row; a consumer's never.
	var businessWithout, consumerWith int
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE xml IS NULL AND NOT number = ANY($1)), count(*) FILTER (WHERE xml IS NOT NULL AND number = ANY($1))
		FROM documents`, consumerNumbers).Scan(&businessWithout, &consumerWith))
	require.Zero(t, businessWithout)
	require.Zero(t, consumerWith)
	referee := invs[byAccount["acc_referee"]].Number

	// Asking again serves the stored bytes.
	again := filepath.Join(dir, "again.xml")
	c.ok("invoices", "xml", invs[byAccount["acc_de"]].Number, "-o", again)
	b, err := os.ReadFile(again)
	require.NoError(t, err)
	require.Equal(t, xmls[invs[byAccount["acc_de"]].Number], b)

	// Mutants the validator must catch: a wrong total, a seller without a
	// SIREN.
	src := string(xmls[invs[byAccount["acc_ref"]].Number])
	total := regexp.MustCompile(`<ram:GrandTotalAmount>([^<]*)</ram:GrandTotalAmount>`)
	wrongTotal := filepath.Join(dir, "mutant-total.xml")
	require.NoError(t, os.WriteFile(wrongTotal, []byte(total.ReplaceAllString(src, "<ram:GrandTotalAmount>999.99</ram:GrandTotalAmount>")), 0o644))
	noSIREN := filepath.Join(dir, "mutant-siren.xml")
	require.Contains(t, src, `<ram:ID schemeID="0002">303265045</ram:ID>`)
	require.NoError(t, os.WriteFile(noSIREN, []byte(strings.Replace(src, `<ram:ID schemeID="0002">303265045</ram:ID>`, "", 1)), 0o644))

	// The PDF/A-3b of a business document carries the same e-invoice as
	// factur-x.xml, which the validator extracts and checks; a
	// consumer's plain PDF carries none.
	var pdfs []string
	for _, n := range []string{invs[byAccount["acc_sepa"]].Number, cn} {
		p := filepath.Join(dir, n+".pdf")
		c.ok("invoices", "pdf", n, "-o", p)
		pdfs = append(pdfs, p)
	}
	consumerPDF := filepath.Join(dir, "consumer.pdf")
	c.ok("invoices", "pdf", referee, "-o", consumerPDF)

	report := validate(t, append(append(files, wrongTotal, noSIREN, consumerPDF), pdfs...)...)
	for _, p := range pdfs {
		require.Empty(t, report[p], "%s: its embedded factur-x.xml passes the validators", filepath.Base(p))
	}
	require.Contains(t, strings.Join(report[consumerPDF], "\n"), "no embedded factur-x.xml")
	var failed []string
	for _, f := range files {
		for _, l := range report[f] {
			failed = append(failed, filepath.Base(f)+": "+l)
		}
	}
	sort.Strings(failed)
	require.Empty(t, failed, "every e-invoice passes the official validators:\n%s", strings.Join(failed, "\n"))
	require.Len(t, files, 10, "nine business invoices and a credit note validated")
	require.NotEmpty(t, report[wrongTotal])
	require.Contains(t, strings.Join(report[wrongTotal], "\n"), "[BR-CO-15]")
	require.Contains(t, strings.Join(report[noSIREN], "\n"), "BR-FR-10")
}
