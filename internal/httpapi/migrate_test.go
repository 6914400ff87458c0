package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
)

// A database without the schema answers every route, health included,
// 503 not_migrated "… run billing migrate first", never a SQL error.
func TestUnmigratedDatabaseSaysMigrateFirst(t *testing.T) {
	t.Parallel()
	db := dbtest.Empty(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: db.Pool, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/healthz", "/v1/accounts", "/v1/invoices/INV-2026-000001"} {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer bt_whatever")
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, 503, res.StatusCode, "%s: %s", path, body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "not_migrated", e.Error.Code)
		require.Contains(t, e.Error.Message, "run billing migrate first")
		require.NotContains(t, e.Error.Message, "SQLSTATE")
	}
}
