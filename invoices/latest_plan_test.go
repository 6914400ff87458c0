package invoices_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/invoices"
)

// The newest versions of a batch (before a render, and for the emails'
// attachments) are read by probing the primary key once per number, even
// when documents has grown from nothing since it was last analyzed, as it
// does while a month's PDFs are stored: `number = ANY($1)` was then
// planned as a scan of the whole table for every batch.
func TestLatestVersionsProbeThePrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	_, err := d.Pool.Exec(ctx, `ANALYZE documents`)
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, `
		INSERT INTO documents (number, version, sha256, pdf, stamp)
		SELECT format('INV-2026-%s', lpad(i::text, 6, '0')), v, repeat('a', 64), '\x00', 'open'
		FROM generate_series(1, 40000) i, generate_series(1, 2) v`)
	require.NoError(t, err)
	var numbers []string
	for i := range 250 {
		numbers = append(numbers, fmt.Sprintf("INV-2026-%06d", i*150+1))
	}
	plan := d.Explain(t, `SELECT d.number, d.version`+invoices.LatestDocumentSQL, numbers)
	require.Contains(t, plan, "documents_pkey", plan)
	require.NotContains(t, plan, "Seq Scan on documents", plan)
}

// Likewise the lines after the usage lines, read for every event of an
// invoice: invoice_referral_lines is written during finalization, after
// the drafts' statistics were taken.
func TestReferralLinesProbeTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	_, err := d.Pool.Exec(ctx, `ANALYZE invoice_referral_lines`)
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, `
		INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts)
		SELECT i, '{referral}', '{r}', '{-1.00}' FROM generate_series(1, 40000) i`)
	require.NoError(t, err)
	var ids []int64
	for i := range 1000 {
		ids = append(ids, int64(i*37+1))
	}
	plan := d.Explain(t, invoices.ReferralLinesSQL, ids)
	require.Contains(t, plan, "invoice_referral_lines_pkey", plan)
	require.NotContains(t, plan, "Seq Scan on invoice_referral_lines", plan)
}
