package pgdb_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestSchemaRefusesBadStates checks the constraints behind the importers:
// even a statement that bypasses validation cannot store a bad state.
func TestSchemaRefusesBadStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	_, err := d.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('a0', 'Zero', 'a0@example.test', 'FR', '2026-01-01Z');
		INSERT INTO accounts (id, name, email, country, created_at, referred_by) VALUES ('a1', 'One', 'a1@example.test', 'FR', '2026-02-01Z', 'a0');
		INSERT INTO resources VALUES ('container:M');
		INSERT INTO prices VALUES ('container:M', '2026-01-01Z', 0.0278, 'M');
		INSERT INTO payment_methods (account_id, type, external_id) VALUES ('a1', 'card', 'pm_card_visa');
		INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ('s1', 'a1', 'web', 'container:M', 1, '2026-10-01Z');`)
	require.NoError(t, err)

	for name, stmt := range map[string]string{
		"quantity below 1":          `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ('s2', 'a1', 'web', 'container:M', 0, '2026-10-01Z')`,
		"ended_at not after start":  `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at) VALUES ('s2', 'a1', 'web', 'container:M', 1, '2026-10-01Z', '2026-10-01Z')`,
		"usage of unknown account":  `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ('s2', 'zz', 'web', 'container:M', 1, '2026-10-01Z')`,
		"usage of unknown resource": `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ('s2', 'a1', 'web', 'gpu', 1, '2026-10-01Z')`,
		"duplicate segment id":      `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ('s1', 'a1', 'web', 'container:M', 1, '2026-10-01Z')`,
		"negative price":            `INSERT INTO prices VALUES ('container:M', '2026-02-01Z', -1, 'M')`,
		"price below a 1e-10":       `INSERT INTO prices VALUES ('container:M', '2026-02-01Z', 0.00000000001, 'M')`,
		"lower-case country":        `INSERT INTO accounts (id, name, email, country, created_at) VALUES ('b', 'B', 'b@example.test', 'fr', '2026-01-01Z')`,
		"referrer created later":    `INSERT INTO accounts (id, name, email, country, created_at, referred_by) VALUES ('b', 'B', 'b@example.test', 'FR', '2025-01-01Z', 'a1')`,
		"self referral":             `INSERT INTO accounts (id, name, email, country, created_at, referred_by) VALUES ('b', 'B', 'b@example.test', 'FR', '2026-05-01Z', 'b')`,
		"created_at changed":        `UPDATE accounts SET created_at = '2026-02-02Z' WHERE id = 'a1'`,
		"referred_by changed":       `UPDATE accounts SET referred_by = NULL WHERE id = 'a1'`,
		"unknown status":            `UPDATE accounts SET status = 'closed' WHERE id = 'a1'`,
		"two current methods":       `INSERT INTO payment_methods (account_id, type, external_id) VALUES ('a1', 'card', 'pm_other')`,
		"unknown method type":       `INSERT INTO payment_methods (account_id, type, external_id) VALUES ('a0', 'cash', 'x')`,
		"id with whitespace":        `INSERT INTO accounts (id, name, email, country, created_at) VALUES ('b c', 'B', 'b@example.test', 'FR', '2026-01-01Z')`,
		"account deleted":           `DELETE FROM accounts WHERE id = 'a0'`,
		"resource deleted":          `DELETE FROM resources`,
		"account re-keyed":          `UPDATE accounts SET id = 'a9' WHERE id = 'a0'`,
		"usage moved to a ghost":    `UPDATE usage_segments SET account_id = 'ghost'`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := d.Pool.Exec(ctx, stmt)
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "statement was accepted: %s", stmt)
			require.Contains(t, []string{"23514", "23503", "23505", "23001"}, pgErr.Code, "%s", pgErr.Message)
		})
	}
}

// The values Postgres compresses are compressed with lz4 (migration 0025):
// pglz spent Postgres's CPU on every Factur-X XML. This server, like the
// project's, is built with lz4; one without keeps pglz.
func TestLargeValuesUseLZ4(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	rows, err := d.Pool.Query(ctx, `
		SELECT attrelid::regclass::text || '.' || attname, attcompression::text FROM pg_attribute
		WHERE (attrelid, attname) IN (('documents'::regclass, 'xml'), ('events'::regclass, 'data'),
		                              ('invoice_usage_lines'::regclass, 'apps'), ('invoice_usage_lines'::regclass, 'price_hours'))
		ORDER BY 1`)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var col, method string
		require.NoError(t, rows.Scan(&col, &method))
		got[col] = method
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"documents.xml": "l", "events.data": "l",
		"invoice_usage_lines.apps": "l", "invoice_usage_lines.price_hours": "l"}, got)

	_, err = d.Pool.Exec(ctx, `INSERT INTO events (type, created_at, data) VALUES ('run.completed', now(), json_build_object('pad', repeat('x', 10000)))`)
	require.NoError(t, err)
	var method string
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT coalesce(pg_column_compression(data), '') FROM events`).Scan(&method))
	require.Equal(t, "lz4", method, "a large event's data is compressed with lz4")
}
