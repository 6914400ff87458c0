package pgdb_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestLookupByNumberTakesTheUniqueIndexAfterTheDraftsWereAnalyzed is the
// first month: statistics gathered while every invoice is a draft say that
// every number is NULL, and the planner, believing the partial indexes
// "WHERE number IS NOT NULL" empty, scanned one of them whole for each
// lookup by number as the run filled them (migration 0022).
func TestLookupByNumberTakesTheUniqueIndexAfterTheDraftsWereAnalyzed(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	d.FirstMonth(t, 20000, "acc_999999", true)
	var numbers []string
	for i := range 100 { // a collection batch looks up 500 among 100,000
		numbers = append(numbers, fmt.Sprintf("INV-2026-%06d", i*193+1))
	}
	// The collection's lookup (payments) and the documents' (invoices), as
	// they read. (payments tests the dunning facts' lookup by id.)
	for _, c := range []struct {
		q, index string
		arg      any
	}{
		{`SELECT id, number, account_id, status, coalesce(total, 0), amount_paid, credit_applied FROM invoices WHERE number = ANY($1) ORDER BY id FOR UPDATE`,
			"invoices_number_key", numbers},
		{`SELECT number, status, amount_paid, credit_applied, total FROM invoices WHERE number = ANY($1) ORDER BY id FOR NO KEY UPDATE`,
			"invoices_number_key", numbers},
	} {
		plan := d.Explain(t, c.q, c.arg)
		require.Contains(t, plan, c.index, "%s\n%s", c.q, plan)
	}
}
