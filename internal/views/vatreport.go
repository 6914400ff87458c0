package views

import (
	"context"
	"encoding/csv"
	"io"
	"time"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// VATRow is one line of the VAT report: a country, regime and rate, with
// the taxable base (subtotal − discount) and the VAT of the invoices
// issued in the period, minus those of the credit notes issued in it.
type VATRow struct {
	Country string        `json:"country"`
	Regime  string        `json:"regime"`
	Rate    string        `json:"rate"`
	Base    billing.Money `json:"base"`
	VAT     billing.Money `json:"vat"`
}

// VATReport is billing reports vat (SPEC §15).
type VATReport struct {
	Period    string        `json:"period"`
	Rows      []VATRow      `json:"rows"`
	TotalBase billing.Money `json:"total_base"`
	TotalVAT  billing.Money `json:"total_vat"`
}

// issueMonth is the month of issue p in loc: the reports read documents
// issued in it, whatever usage period they bill.
func issueMonth(p billing.Period, loc *time.Location) (time.Time, time.Time) { return p.Bounds(loc) }

// GetVATReport sums, per buyer country, VAT regime and rate, the invoices
// and credit notes issued in period p (in the billing time zone loc). A
// credit note counts under its invoice's country, regime and rate, with
// its own (negative) amounts: an invoice voided in the month it was issued
// adds nothing.
func GetVATReport(ctx context.Context, q pgdb.Executor, p billing.Period, loc *time.Location) (*VATReport, error) {
	start, end := issueMonth(p, loc)
	rows, err := q.Query(ctx, `
		SELECT country, treatment, rate, sum(base), sum(vat) FROM (
			SELECT i.buyer_country AS country, i.vat_treatment AS treatment, i.tax_rate AS rate,
			       i.subtotal - i.discount AS base, i.tax AS vat
			FROM invoices i WHERE i.number IS NOT NULL AND i.issued_at >= $1 AND i.issued_at < $2
			UNION ALL
			SELECT i.buyer_country, i.vat_treatment, i.tax_rate, c.subtotal - c.discount, c.tax
			FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
			WHERE c.issued_at >= $1 AND c.issued_at < $2
		) d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &VATReport{Period: p.String(), Rows: []VATRow{}}
	for rows.Next() {
		var row VATRow
		var treatment billing.VATTreatment
		var rate decimal.Decimal
		if err := rows.Scan(&row.Country, &treatment, &rate, &row.Base, &row.VAT); err != nil {
			return nil, err
		}
		row.Regime, row.Rate = treatment.Regime(), rate.String()
		r.Rows = append(r.Rows, row)
		r.TotalBase = r.TotalBase.Add(row.Base)
		r.TotalVAT = r.TotalVAT.Add(row.VAT)
	}
	return r, rows.Err()
}

// WriteVATCSV writes the report's rows as CSV with a header line.
func WriteVATCSV(w io.Writer, r *VATReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"country", "regime", "rate", "base", "vat"})
	for _, row := range r.Rows {
		_ = cw.Write([]string{row.Country, row.Regime, row.Rate, row.Base.String(), row.VAT.String()})
	}
	cw.Flush()
	return cw.Error()
}
