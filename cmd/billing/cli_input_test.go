package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/testutil"
)

// Input Postgres can't store or that names nothing (NUL bytes, control
// characters, invalid UTF-8, over-long text) and a reference another
// credit holds: exit 1 with a message saying what is wrong, never a
// driver error.
func TestCLIRefusesUnstorableInputClearly(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	pool, err := pgdb.Open(context.Background(), c.url, nil)
	require.NoError(t, err)
	defer pool.Close()
	inv := testutil.OpenInvoice(t, pool, "acc_1", 1, "12.00")
	testutil.OpenInvoice(t, pool, "acc_2", 2, "10.00")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"credit", "add", "--account", "acc\x001", "--amount", "5", "--reference", "R1"}, `--account "acc\x001" contains control characters`},
		{[]string{"credit", "add", "--account", "acc_1", "--amount", "5", "--reference", "R\xff"}, `--reference "R\xff" is not valid UTF-8 text`},
		{[]string{"credit", "add", "--account", "acc_1", "--amount", "5", "--reference", "R\n2"}, "contains control characters"},
		{[]string{"credit", "add", "--account", "acc_1", "--amount", "5", "--reference", strings.Repeat("r", 194)}, "--reference is 194 characters long: at most 193"},
		{[]string{"invoices", "void", inv.Number + "\x00", "--reason", "wrong"}, "invoice number"},
		{[]string{"invoices", "void", inv.Number, "--reason", "wrong\x00usage"}, "--reason: the reason contains the control character U+0000 at character 6"},
		{[]string{"invoices", "void", inv.Number, "--reason", "wrong\x1b[2Jusage"}, "control character U+001B"},
		{[]string{"invoices", "void", inv.Number, "--reason", "\xffwrong"}, "--reason: the reason is not valid UTF-8 text"},
		{[]string{"invoices", "void", inv.Number, "--reason", strings.Repeat("x", 1001)}, "--reason: the reason is 1001 characters long: at most 1000"},
		{[]string{"invoices", "show", "\xff"}, "not valid UTF-8"},
		{[]string{"invoices", "pdf", "INV\x00", "-o", "-"}, "contains control characters"},
		{[]string{"invoices", "xml", "INV\x00", "-o", "-"}, "contains control characters"},
		{[]string{"invoices", "xml", "INV-2026-999999", "-o", "-"}, "invoice not found: INV-2026-999999"},
		{[]string{"invoices", "xml", inv.Number, "-o", "-"}, inv.Number + ": account acc_1 is a consumer: no e-invoice (SPEC §13)"},
	} {
		code, _, stderr := c.run(tc.args...)
		require.Equal(t, exitFail, code, "%q: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want, "%q", tc.args)
		require.NotContains(t, stderr, "SQLSTATE", "%q", tc.args)
	}
	var voided int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM credit_notes`).Scan(&voided))
	require.Zero(t, voided)

	// One reference, two accounts: the second is a conflict in finance's
	// own terms; the same credit again is a replay.
	c.ok("credit", "add", "--account", "acc_1", "--amount", "5", "--reference", "GIFT")
	code, _, stderr := c.run("credit", "add", "--account", "acc_2", "--amount", "5", "--reference", "GIFT")
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "reference GIFT is already used by a credit of 5.00 for account acc_1: nothing added")
	require.Contains(t, c.ok("credit", "add", "--account", "acc_1", "--amount", "5", "--reference", "GIFT"), `"created": false`)
}
