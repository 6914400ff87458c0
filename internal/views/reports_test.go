package views_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
)

// doc is an invoice or credit note the test issued, as it expects the
// reports to count it.
type doc struct {
	number, account    string
	country, regime    string
	rate               string
	base, vat, total   billing.Money
	issued             time.Time
	creditNote, voided bool
}

type reportBundle struct {
	ctx  context.Context
	db   *dbtest.DB
	loc  *time.Location
	docs []doc
}

// reportSetup issues invoices in September to November 2026 (Paris time)
// under every regime, some with a discount, and voids some of them in the
// month they were issued and some a month later.
func reportSetup(t *testing.T) *reportBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
	loc, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	b := &reportBundle{ctx: ctx, db: db, loc: loc}
	kinds := []struct {
		country, vatNumber string
		treatment          billing.VATTreatment
		rate               string
	}{
		{"FR", "", billing.VATDomestic, "20"},
		{"DE", "DE123456789", billing.VATReverseCharge, "0"},
		{"DE", "", billing.VATOSS, "19"},
		{"IT", "", billing.VATOSS, "22"},
		{"US", "", billing.VATOutsideEU, "0"},
	}
	n := 0
	for k, kind := range kinds {
		for a := range 3 {
			acc := testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr(fmt.Sprintf("acc_%d_%d", k, a)), Country: &kind.country})
			for m, period := range []string{"2026-08", "2026-09", "2026-10"} {
				n++
				// Issued at midnight and a minute, Paris time, on the 1st: in
				// UTC, still the month before.
				issued := time.Date(2026, time.Month(9+m), 1, 0, 1, 0, 0, loc)
				subtotal := billing.MustParseMoney(fmt.Sprintf("%d.%02d", 10+n, (n*37)%100))
				discount := billing.MustParseMoney("0.00")
				if n%4 == 0 {
					discount = billing.MustParseMoney("3.33")
				}
				tr := kind.treatment
				inv := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: &acc.ID, Period: testfactory.Ptr(period),
					Subtotal: testfactory.Ptr(subtotal.String()), Discount: testfactory.Ptr(discount.String()), TaxRate: &kind.rate,
					VATTreatment: &tr, IssuedAt: &issued, Status: testfactory.Ptr([]string{"open", "paid"}[n%2])})
				base := subtotal.Sub(discount)
				vat := billing.MustParseMoney(billing.FormatMoney(billing.RoundMoney(base.Decimal().Mul(billing.MustParseMoney(kind.rate + ".00").Decimal()).Shift(-2))))
				d := doc{number: inv.Number, account: acc.ID, country: kind.country, regime: kind.treatment.Regime(), rate: kind.rate,
					base: base, vat: vat, total: billing.MoneyOf(inv.Total), issued: issued}
				b.docs = append(b.docs, d)
				if n%3 == 0 {
					// Voided the same month, or the next.
					at := issued.Add(time.Duration(n%2) * 31 * 24 * time.Hour).Add(time.Hour)
					cfg := &invoices.Config{Location: loc, Now: func() time.Time { return at }}
					var v *invoices.Voided
					require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
						var err error
						v, err = invoices.Void(ctx, tx, cfg, invoices.VoidParams{Number: inv.Number, Reason: "test", RequestedBy: "test"})
						return err
					}))
					cn := d
					cn.number, cn.creditNote, cn.issued = v.CreditNote.Number, true, at
					cn.base, cn.vat, cn.total = base.Neg(), vat.Neg(), d.total.Neg()
					b.docs[len(b.docs)-1].voided = true
					b.docs = append(b.docs, cn)
				}
			}
		}
	}
	return b
}

// The VAT report of a month is, row by row, the sum of the documents
// issued in it; and over every month, base + VAT is what the non-void
// invoices total, as the invoice listing shows them.
func TestVATReportReconciles(t *testing.T) {
	t.Parallel()
	b := reportSetup(t)
	allBase, allVAT := billing.Money{}, billing.Money{}
	for _, month := range []string{"2026-08", "2026-09", "2026-10", "2026-11", "2026-12"} {
		p, err := billing.ParsePeriod(month)
		require.NoError(t, err)
		start, end := p.Bounds(b.loc)
		type key struct{ country, regime, rate string }
		want := map[key][2]billing.Money{}
		for _, d := range b.docs {
			if d.issued.Before(start) || !d.issued.Before(end) {
				continue
			}
			k := key{d.country, d.regime, d.rate}
			w := want[k]
			want[k] = [2]billing.Money{w[0].Add(d.base), w[1].Add(d.vat)}
		}
		r, err := views.GetVATReport(b.ctx, b.db.Pool, p, b.loc)
		require.NoError(t, err)
		require.Equal(t, month, r.Period)
		require.Len(t, r.Rows, len(want), month)
		sumBase, sumVAT := billing.Money{}, billing.Money{}
		for _, row := range r.Rows {
			w, ok := want[key{row.Country, row.Regime, row.Rate}]
			require.True(t, ok, "%s: unexpected row %+v", month, row)
			require.Equal(t, w[0].String(), row.Base.String(), "%s %+v", month, row)
			require.Equal(t, w[1].String(), row.VAT.String(), "%s %+v", month, row)
			if row.Regime != "domestic" && row.Regime != "oss" {
				require.True(t, row.VAT.IsZero(), "no VAT under %s", row.Regime)
			}
			sumBase, sumVAT = sumBase.Add(row.Base), sumVAT.Add(row.VAT)
		}
		require.Equal(t, sumBase.String(), r.TotalBase.String())
		require.Equal(t, sumVAT.String(), r.TotalVAT.String())
		allBase, allVAT = allBase.Add(r.TotalBase), allVAT.Add(r.TotalVAT)
	}
	// The other way round: the invoices as listed.
	page, err := views.ListInvoices(b.ctx, b.db.Pool, views.InvoiceFilter{Limit: views.MaxLimit})
	require.NoError(t, err)
	var totals billing.Money
	void := 0
	for _, inv := range page.Data {
		if inv.Status == invoices.StatusVoid {
			void++
			continue
		}
		totals = totals.Add(billing.MustParseMoney(inv.Total))
	}
	require.Positive(t, void)
	require.Equal(t, totals.String(), allBase.Add(allVAT).String(), "Σ base + VAT of every month = Σ totals of the invoices that stand")
}

// fecLine is one parsed line of a FEC file.
type fecLine map[string]string

func parseFEC(t *testing.T, text string) []fecLine {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Equal(t, strings.Join(views.FECColumns, "|"), lines[0])
	require.Len(t, views.FECColumns, 18)
	var out []fecLine
	for _, l := range lines[1:] {
		f := strings.Split(l, "|")
		require.Len(t, f, 18, "%q", l)
		m := fecLine{}
		for i, c := range views.FECColumns {
			m[c] = f[i]
		}
		require.Regexp(t, `^20\d{6}$`, m["EcritureDate"])
		require.Equal(t, m["EcritureDate"], m["ValidDate"])
		require.Regexp(t, `^\d+,\d{2}$`, m["Debit"])
		require.Regexp(t, `^\d+,\d{2}$`, m["Credit"])
		out = append(out, m)
	}
	return out
}

func fecMoney(t *testing.T, s string) billing.Money {
	t.Helper()
	m, err := billing.ParseMoney(strings.Replace(s, ",", ".", 1))
	require.NoError(t, err)
	return m
}

// Every entry of the FEC file balances, and so does the file; its sales
// entries are the month's documents and its revenue and VAT are the VAT
// report's; reverse charge and outside-scope invoices carry no VAT line;
// payments and credit movements are entries of their own.
func TestJournalBalances(t *testing.T) {
	t.Parallel()
	b := reportSetup(t)
	// A card payment settled in October, prepaid credit and a referral
	// reward added in October.
	paid := b.docs[1]
	_, err := b.db.Pool.Exec(b.ctx, `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, created_at, decided_at)
		SELECT id, 1, 'k1', 'sandbox', 'card', 'pm_card_visa', total, 'succeeded', '2026-10-02Z', '2026-10-02T00:00:01Z' FROM invoices WHERE number = $1`, paid.number)
	require.NoError(t, err)
	// Written as the ledger's owner writes them, dated in October.
	_, err = b.db.Pool.Exec(b.ctx, `
		INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, invoice_id, created_at) VALUES
		($1, 'manual_credit', 25.00, 25.00, 'TICKET-1', NULL, '2026-10-10Z'),
		($1, 'referral_reward', 4.10, 29.10, 'reward-1', NULL, '2026-10-11Z'),
		($1, 'invoice_payment', -5.00, 24.10, $2, (SELECT id FROM invoices WHERE number = $2), '2026-10-12Z')`, paid.account, paid.number)
	require.NoError(t, err)

	for _, month := range []string{"2026-09", "2026-10", "2026-11"} {
		p, err := billing.ParsePeriod(month)
		require.NoError(t, err)
		j, err := views.GetJournal(b.ctx, b.db.Pool, p, b.loc)
		require.NoError(t, err)
		var buf strings.Builder
		require.NoError(t, views.WriteFEC(&buf, j))
		lines := parseFEC(t, buf.String())

		type entry struct{ debit, credit billing.Money }
		entries := map[string]*entry{}
		var totalD, totalC, revenue, vat billing.Money
		sales := map[string]bool{}
		vatLines := map[string]bool{}
		customer := map[string]billing.Money{} // 411 of sales entries, by auxiliary account
		for _, l := range lines {
			key := l["JournalCode"] + "/" + l["EcritureNum"]
			e := entries[key]
			if e == nil {
				e = &entry{}
				entries[key] = e
			}
			d, c := fecMoney(t, l["Debit"]), fecMoney(t, l["Credit"])
			if l["JournalCode"] != "VE" || l["CompteNum"] == "44571" {
				require.False(t, d.IsZero() && c.IsZero(), "no empty line: %v", l)
			}
			e.debit, e.credit = e.debit.Add(d), e.credit.Add(c)
			totalD, totalC = totalD.Add(d), totalC.Add(c)
			if l["JournalCode"] == "VE" {
				sales[l["PieceRef"]] = true
				switch l["CompteNum"] {
				case "706":
					revenue = revenue.Add(c).Sub(d)
				case "44571":
					vat = vat.Add(c).Sub(d)
					vatLines[l["PieceRef"]] = true
				case "411":
					require.NotEmpty(t, l["CompAuxNum"])
					customer[l["CompAuxNum"]] = customer[l["CompAuxNum"]].Add(d).Sub(c)
				}
			}
		}
		for key, e := range entries {
			require.Equal(t, e.debit.String(), e.credit.String(), "%s: entry %s balances", month, key)
		}
		require.Equal(t, totalD.String(), totalC.String(), "%s: the file balances", month)

		start, end := p.Bounds(b.loc)
		wantCustomer := map[string]billing.Money{}
		n := 0
		for _, d := range b.docs {
			if d.issued.Before(start) || !d.issued.Before(end) {
				continue
			}
			n++
			require.True(t, sales[d.number], "%s: %s has its entry", month, d.number)
			if d.regime == "reverse_charge" || d.regime == "outside_scope" {
				require.False(t, vatLines[d.number], "%s: no VAT line under %s", d.number, d.regime)
			}
			wantCustomer[d.account] = wantCustomer[d.account].Add(d.total)
		}
		require.Len(t, sales, n, "%s: one sales entry per document", month)
		for acc, want := range wantCustomer {
			require.Equal(t, want.String(), customer[acc].String(), "%s: 411 %s", month, acc)
		}
		r, err := views.GetVATReport(b.ctx, b.db.Pool, p, b.loc)
		require.NoError(t, err)
		require.Equal(t, r.TotalBase.String(), revenue.String(), "%s: 706 is the VAT report's base", month)
		require.Equal(t, r.TotalVAT.String(), vat.String(), "%s: 44571 is the VAT report's VAT", month)
		if month == "2026-10" {
			var bank int
			for _, l := range lines {
				if l["JournalCode"] == "BQ" && l["CompteNum"] == "512" {
					bank++
				}
			}
			require.Equal(t, 2, bank, "the card payment settled on 2026-10-02 and the manual credit")
			misc := map[string]bool{}
			for _, l := range lines {
				if l["JournalCode"] == "OD" {
					misc[l["EcritureNum"]] = true
					require.Contains(t, []string{"4191", "411", "709"}, l["CompteNum"])
				}
			}
			require.Len(t, misc, 2, "the reward and the credit applied")
		}
	}
}
