package invoices_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/invoices"
)

// A batch read of PDFs gives each number's newest version, whatever the
// case the number was asked in, and leaves out the numbers with none.
func TestLatestPDFFilesGiveTheNewestVersionOfEach(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO documents (number, version, sha256, pdf, stamp, xml) VALUES
		    ('INV-2026-000001', 1, repeat('a', 64), 'one v1', 'open', NULL),
		    ('INV-2026-000001', 2, repeat('b', 64), 'one v2', 'paid', NULL),
		    ('INV-2026-000002', 1, repeat('c', 64), 'two v1', 'open', '<xml/>')`)
	require.NoError(t, err)

	got, err := invoices.LatestPDFFiles(ctx, db.Pool, []string{"inv-2026-000001", "INV-2026-000002", "INV-2026-000003"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, 2, got["INV-2026-000001"].Version)
	require.Equal(t, "one v2", string(got["INV-2026-000001"].Bytes))
	require.Equal(t, "two v1", string(got["INV-2026-000002"].Bytes))
	require.Nil(t, got["INV-2026-000002"].XML, "the e-invoice is not read: the PDF embeds it")
	require.NotContains(t, got, "INV-2026-000003")
}
