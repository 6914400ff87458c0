package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/ingest"
)

// The VIES client speaks the REST API's JSON, here to a local stand-in:
// the real register is never called by tests.
func TestVIESClient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ CountryCode, VatNumber string }
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch req.VatNumber {
		case "811569869":
			_, _ = w.Write([]byte(`{"countryCode":"` + req.CountryCode + `","vatNumber":"811569869","valid":true,"name":"ACME GMBH","address":"---"}`))
		case "123456000":
			_, _ = w.Write([]byte(`{"countryCode":"DE","vatNumber":"123456000","valid":false,"name":"---"}`))
		case "123456999":
			_, _ = w.Write([]byte(`{"actionSucceed":false,"errorWrappers":[{"error":"MS_UNAVAILABLE","message":"..."}]}`))
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	v := &ingest.VIES{URL: srv.URL, Client: srv.Client()}
	ctx := context.Background()

	ok, name, err := v.Check(ctx, "DE", "811569869")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "ACME GMBH", name)

	ok, name, err = v.Check(ctx, "DE", "123456000")
	require.NoError(t, err)
	require.False(t, ok)
	require.Empty(t, name, `"---" is no name`)

	_, _, err = v.Check(ctx, "DE", "123456999")
	require.ErrorContains(t, err, "MS_UNAVAILABLE")
	_, _, err = v.Check(ctx, "DE", "1")
	require.ErrorContains(t, err, "500")
}
