package views

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// The chart of accounts of the sales journal (README, "Sales journal").
const (
	AccountCustomers   = "411"   // Clients: one auxiliary account per customer account
	AccountPrepayments = "4191"  // Clients - avances et acomptes reçus: prepaid credit
	AccountVAT         = "44571" // État - TVA collectée
	AccountBank        = "512"   // Banque: money received through the processors
	AccountRevenue     = "706"   // Prestations de services
	AccountRebates     = "709"   // Rabais, remises et ristournes accordés: referral rewards paid as credit
)

var accountLabels = map[string]string{
	AccountCustomers:   "Clients",
	AccountPrepayments: "Clients - avances et acomptes recus",
	AccountVAT:         "TVA collectee",
	AccountBank:        "Banque",
	AccountRevenue:     "Prestations de services",
	AccountRebates:     "Rabais, remises et ristournes accordes",
}

// Journals of the FEC.
const (
	JournalSales = "VE" // invoices and credit notes
	JournalBank  = "BQ" // money received: card and SEPA payments, PayPal and manual credit
	JournalMisc  = "OD" // prepaid credit applied, refunded to credit, referral rewards
)

var journalLabels = map[string]string{JournalSales: "Ventes", JournalBank: "Banque", JournalMisc: "Operations diverses"}

// JournalLine is one line of an entry: an account, debited or credited.
type JournalLine struct {
	Account string
	// Aux is the customer account id on 411 and 4191 lines; AuxName its
	// name.
	Aux, AuxName  string
	Debit, Credit billing.Money
}

// JournalEntry is one balanced accounting entry.
type JournalEntry struct {
	Journal string
	Num     int // continuous per journal, in date order
	Date    time.Time
	// Ref is the document: an invoice or credit note number, an invoice
	// number and attempt for a payment, a ledger entry's reference.
	Ref, RefDate, Label string
	Lines               []JournalLine
}

// Balanced reports whether the entry's debits equal its credits.
func (e *JournalEntry) Balanced() bool {
	var d, c billing.Money
	for _, l := range e.Lines {
		d, c = d.Add(l.Debit), c.Add(l.Credit)
	}
	return d.Equal(c)
}

// Journal is the sales journal of a month of issue.
type Journal struct {
	Period  string
	Entries []*JournalEntry
}

// GetJournal builds the sales journal of period p (in the billing time zone
// loc): an entry per invoice and credit note issued in it, per payment
// settled in it, per prepaid credit movement recorded in it.
func GetJournal(ctx context.Context, q pgdb.Executor, p billing.Period, loc *time.Location) (*Journal, error) {
	start, end := issueMonth(p, loc)
	j := &Journal{Period: p.String()}
	add := func(e *JournalEntry) {
		e.Date = e.Date.In(loc)
		e.RefDate = e.Date.Format("20060102")
		// A zero VAT line carries nothing (reverse charge, outside the
		// scope, a fully discounted invoice). A fully discounted invoice
		// keeps its 411 and 706 lines at 0,00: every number issued is in
		// the journal.
		lines := e.Lines[:0]
		for _, l := range e.Lines {
			if l.Account != AccountVAT || !l.Debit.IsZero() || !l.Credit.IsZero() {
				lines = append(lines, l)
			}
		}
		e.Lines = lines
		j.Entries = append(j.Entries, e)
	}

	// Invoices: 411 debited with the total; 706 credited with the base,
	// 44571 with the VAT (none under reverse charge or outside the scope:
	// their rate is 0).
	rows, err := q.Query(ctx, `
		SELECT i.number, i.issued_at, i.account_id, i.buyer_name, i.subtotal - i.discount, i.tax, i.total, i.vat_treatment
		FROM invoices i WHERE i.number IS NOT NULL AND i.issued_at >= $1 AND i.issued_at < $2`, start, end)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var num, acc, name string
		var at time.Time
		var base, tax, total billing.Money
		var treatment billing.VATTreatment
		if err := rows.Scan(&num, &at, &acc, &name, &base, &tax, &total, &treatment); err != nil {
			rows.Close()
			return nil, err
		}
		add(&JournalEntry{Journal: JournalSales, Date: at, Ref: num, Label: "Facture " + num + " " + treatment.Regime(), Lines: []JournalLine{
			{Account: AccountCustomers, Aux: acc, AuxName: name, Debit: total},
			{Account: AccountRevenue, Credit: base},
			{Account: AccountVAT, Credit: tax},
		}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Credit notes: the invoice's entry reversed (their amounts are
	// negative: the entry takes their opposites).
	rows, err = q.Query(ctx, `
		SELECT c.number, c.issued_at, c.account_id, i.buyer_name, c.subtotal - c.discount, c.tax, c.total, i.number
		FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
		WHERE c.issued_at >= $1 AND c.issued_at < $2`, start, end)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var num, acc, name, invoice string
		var at time.Time
		var base, tax, total billing.Money
		if err := rows.Scan(&num, &at, &acc, &name, &base, &tax, &total, &invoice); err != nil {
			rows.Close()
			return nil, err
		}
		add(&JournalEntry{Journal: JournalSales, Date: at, Ref: num, Label: "Avoir " + num + " annule " + invoice, Lines: []JournalLine{
			{Account: AccountRevenue, Debit: base.Neg()},
			{Account: AccountVAT, Debit: tax.Neg()},
			{Account: AccountCustomers, Aux: acc, AuxName: name, Credit: total.Neg()},
		}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Payments through the processors, on the day they succeeded (a SEPA
	// debit when it settled): 512 debited, 411 credited.
	rows, err = q.Query(ctx, `
		SELECT i.number, a.attempt, coalesce(a.settled_at, a.decided_at), i.account_id, i.buyer_name, a.method, a.amount
		FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
		WHERE a.state = 'succeeded' AND coalesce(a.settled_at, a.decided_at) >= $1 AND coalesce(a.settled_at, a.decided_at) < $2`, start, end)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var num, acc, name, method string
		var attempt int
		var at time.Time
		var amount billing.Money
		if err := rows.Scan(&num, &attempt, &at, &acc, &name, &method, &amount); err != nil {
			rows.Close()
			return nil, err
		}
		add(&JournalEntry{Journal: JournalBank, Date: at, Ref: fmt.Sprintf("%s-%d", num, attempt), Label: "Reglement " + method + " " + num, Lines: []JournalLine{
			{Account: AccountBank, Debit: amount},
			{Account: AccountCustomers, Aux: acc, AuxName: name, Credit: amount},
		}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Prepaid credit movements, from the ledger.
	rows, err = q.Query(ctx, `
		SELECT l.kind, l.reference, l.created_at, l.account_id, a.name, l.amount, coalesce(i.number, '')
		FROM credit_ledger l JOIN accounts a ON a.id = l.account_id LEFT JOIN invoices i ON i.id = l.invoice_id
		WHERE l.created_at >= $1 AND l.created_at < $2`, start, end)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var kind, ref, acc, name, invoice string
		var at time.Time
		var amount billing.Money
		if err := rows.Scan(&kind, &ref, &at, &acc, &name, &amount, &invoice); err != nil {
			rows.Close()
			return nil, err
		}
		e, err := ledgerEntry(kind, ref, invoice, acc, name, amount)
		if err != nil {
			rows.Close()
			return nil, err
		}
		e.Date = at
		add(e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Day order, documents before what they cause on the same day, then
	// reference (invoice numbers are in issue order): numbers continuous
	// per journal.
	rank := map[string]int{JournalSales: 0, JournalBank: 1, JournalMisc: 2}
	sort.SliceStable(j.Entries, func(a, b int) bool {
		ea, eb := j.Entries[a], j.Entries[b]
		if ea.RefDate != eb.RefDate {
			return ea.RefDate < eb.RefDate
		}
		if ea.Journal != eb.Journal {
			return rank[ea.Journal] < rank[eb.Journal]
		}
		return ea.Ref < eb.Ref
	})
	nums := map[string]int{}
	for _, e := range j.Entries {
		nums[e.Journal]++
		e.Num = nums[e.Journal]
	}
	return j, nil
}

// ledgerEntry is the entry of one prepaid credit movement.
func ledgerEntry(kind, ref, invoice, acc, name string, amount billing.Money) (*JournalEntry, error) {
	prepaid := func(debit bool, m billing.Money) JournalLine {
		if debit {
			return JournalLine{Account: AccountPrepayments, Aux: acc, AuxName: name, Debit: m}
		}
		return JournalLine{Account: AccountPrepayments, Aux: acc, AuxName: name, Credit: m}
	}
	customer := func(debit bool, m billing.Money) JournalLine {
		if debit {
			return JournalLine{Account: AccountCustomers, Aux: acc, AuxName: name, Debit: m}
		}
		return JournalLine{Account: AccountCustomers, Aux: acc, AuxName: name, Credit: m}
	}
	abs := amount
	if abs.IsNegative() {
		abs = abs.Neg()
	}
	switch kind {
	case "paypal_purchase", "manual_credit":
		// Money received for credit: the bank, and a prepayment owed back
		// in services.
		return &JournalEntry{Journal: JournalBank, Ref: ref, Label: "Credit prepaye " + kind, Lines: []JournalLine{
			{Account: AccountBank, Debit: abs}, prepaid(false, abs)}}, nil
	case "invoice_payment":
		// Credit applied to an invoice settles the customer's debt.
		return &JournalEntry{Journal: JournalMisc, Ref: ref, Label: "Credit prepaye applique " + invoice, Lines: []JournalLine{
			prepaid(true, abs), customer(false, abs)}}, nil
	case "refund_to_credit":
		// What was paid on a voided invoice becomes credit: the customer
		// account, cleared by the credit note, gives it back as a
		// prepayment.
		return &JournalEntry{Journal: JournalMisc, Ref: ref, Label: "Rembourse en credit " + invoice, Lines: []JournalLine{
			customer(true, abs), prepaid(false, abs)}}, nil
	case "referral_reward":
		return &JournalEntry{Journal: JournalMisc, Ref: ref, Label: "Parrainage credite", Lines: []JournalLine{
			{Account: AccountRebates, Debit: abs}, prepaid(false, abs)}}, nil
	case "referral_reversal":
		return &JournalEntry{Journal: JournalMisc, Ref: ref, Label: "Parrainage repris", Lines: []JournalLine{
			prepaid(true, abs), {Account: AccountRebates, Credit: abs}}}, nil
	}
	return nil, fmt.Errorf("credit ledger entry %s of kind %q: no journal entry for that kind", ref, kind)
}

// FECColumns are the 18 columns of article A47 A-1 of the Livre des
// procédures fiscales, in order.
var FECColumns = []string{"JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
	"CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
	"ValidDate", "Montantdevise", "Idevise"}

// fecAmount writes an amount with a comma decimal separator.
func fecAmount(m billing.Money) string { return strings.Replace(m.String(), ".", ",", 1) }

// fecText keeps a free-text field on its line and out of the separator.
func fecText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '|' || r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// WriteFEC writes the journal as a FEC file: a header line, then a line
// per entry line, |-separated, dates YYYYMMDD, amounts 1234,56, in euros
// (Montantdevise and Idevise empty).
func WriteFEC(w io.Writer, j *Journal) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, strings.Join(FECColumns, "|"))
	for _, e := range j.Entries {
		date := e.Date.Format("20060102")
		for _, l := range e.Lines {
			label := accountLabels[l.Account]
			fields := []string{e.Journal, journalLabels[e.Journal], fmt.Sprintf("%s%06d", e.Journal, e.Num), date, l.Account, label,
				fecText(l.Aux), fecText(l.AuxName), fecText(e.Ref), e.RefDate, fecText(e.Label), fecAmount(l.Debit), fecAmount(l.Credit),
				"", "", date, "", ""}
			fmt.Fprintln(bw, strings.Join(fields, "|"))
		}
	}
	return bw.Flush()
}
