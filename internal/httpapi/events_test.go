package httpapi_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// visibleWithin bounds the wait for events to become visible to readers:
// a long transaction anywhere on the test server (another package's
// import, a benchmark loading millions of segments) holds them back.
const visibleWithin = 3 * time.Minute

type eventsPage struct {
	Data []struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		AccountID *string         `json:"account_id"`
		Data      json.RawMessage `json:"data"`
	} `json:"data"`
	Next *string `json:"next"`
}

// waitEvents reads /v1/events until n events show: readers see an event
// once every transaction older than it has ended, other tests' included.
func (b *apiBundle) waitEvents(t *testing.T, principal, query string, n int) eventsPage {
	t.Helper()
	deadline := time.Now().Add(visibleWithin)
	for {
		res, body := b.do(t, principal, "GET", "/v1/events"+query, "")
		require.Equal(t, 200, res.StatusCode, "%s", body)
		var p eventsPage
		require.NoError(t, json.Unmarshal(body, &p))
		if len(p.Data) >= n || time.Now().After(deadline) {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorCode(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	return e.Error.Code, e.Error.Message
}

// GET /v1/events: finance and service tokens read every event, an account
// token its own account's only; pages follow next; bad or unknown
// parameters are 400s naming them.
func TestEventsAPI(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, acc := range []string{"a1", "a2"} {
		res, body := b.do(t, "finance", "POST", "/v1/invoices/"+b.inv[acc].Number+"/void", `{"reason":"wrong usage"}`)
		require.Equal(t, 200, res.StatusCode, "%s", body)
	}
	all := b.waitEvents(t, "finance", "", 4)
	require.GreaterOrEqual(t, len(all.Data), 4)
	require.Nil(t, all.Next)
	types := map[string]bool{}
	for _, e := range all.Data {
		types[e.Type] = true
	}
	require.True(t, types["invoice.voided"] && types["credit_note.issued"], "%v", types)

	svc := b.waitEvents(t, "service", "", len(all.Data))
	require.Len(t, svc.Data, len(all.Data))

	own := b.waitEvents(t, "account", "", 1)
	require.NotEmpty(t, own.Data)
	require.Less(t, len(own.Data), len(all.Data))
	for _, e := range own.Data {
		require.Equal(t, "a1", *e.AccountID)
	}
	res, body := b.do(t, "account", "GET", "/v1/events?account=a2", "")
	require.Equal(t, 404, res.StatusCode, "%s", body)

	// Paging: limit 1, following next, reads the same events in order.
	var paged []string
	query := "?limit=1"
	for range 20 {
		p := b.waitEvents(t, "finance", query, 0)
		for _, e := range p.Data {
			paged = append(paged, e.ID)
		}
		if p.Next == nil {
			break
		}
		query = "?limit=1&after=" + *p.Next
	}
	var want []string
	for _, e := range all.Data {
		want = append(want, e.ID)
	}
	require.Equal(t, want, paged)

	voided := b.waitEvents(t, "finance", "?type=invoice.voided", 2)
	require.Len(t, voided.Data, 2)
	var inv map[string]any
	require.NoError(t, json.Unmarshal(voided.Data[0].Data, &inv))
	require.Equal(t, "void", inv["status"], "the invoice as it stands after the change")

	for _, tc := range []struct{ query, want string }{
		{"?type=invoice.created", "type: unknown event type"},
		{"?limit=0", "limit: "},
		{"?limit=many", "limit: "},
		{"?after=evt_x", "after: "},
		{"?since=2026-01-01", `since: unknown query parameter`},
	} {
		res, body := b.do(t, "finance", "GET", "/v1/events"+tc.query, "")
		require.Equal(t, 400, res.StatusCode, "%s: %s", tc.query, body)
		_, msg := errorCode(t, body)
		require.Contains(t, msg, tc.want, tc.query)
	}
}

// Webhook endpoints through the API, for finance tokens only.
func TestWebhooksAPI(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	res, body := b.do(t, "finance", "POST", "/v1/webhooks", `{"url":"https://hooks.example.test/in","events":["invoice.voided"]}`)
	require.Equal(t, 201, res.StatusCode, "%s", body)
	var ep struct {
		ID, Secret string
		Events     []string
	}
	require.NoError(t, json.Unmarshal(body, &ep))
	var err error
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"))
	require.Equal(t, []string{"invoice.voided"}, ep.Events)

	res, body = b.do(t, "finance", "GET", "/v1/webhooks", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, string(body), ep.ID)
	require.NotContains(t, string(body), "whsec_")

	for _, p := range []string{"account", "service"} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/webhooks", ""}, {"POST", "/v1/webhooks", `{"url":"https://x.test"}`},
			{"DELETE", "/v1/webhooks/" + ep.ID, ""}, {"GET", "/v1/webhooks/deliveries", ""},
			{"POST", "/v1/events/evt_00000000000000010000000000000001/redeliver", ""},
		} {
			res, body := b.do(t, p, c.method, c.path, c.body)
			require.Equal(t, 403, res.StatusCode, "%s %s as %s: %s", c.method, c.path, p, body)
		}
	}

	for _, tc := range []struct{ body, want string }{
		{`{"url":"ftp://hooks.example.test/in"}`, `url: scheme "ftp" is not http or https`},
		{`{"url":"not a url"}`, "url: "},
		{`{"url":"http://hooks.example.test/in"}`, "url: must be https"},
		{`{"url":"https://hooks.example.test/in","events":["invoice.created"]}`, `events: unknown event type "invoice.created"`},
		{`{"url":"https://hooks.example.test/in","secret":"mine"}`, "secret"},
	} {
		res, body := b.do(t, "finance", "POST", "/v1/webhooks", tc.body)
		require.Equal(t, 400, res.StatusCode, "%s: %s", tc.body, body)
		_, msg := errorCode(t, body)
		require.Contains(t, msg, tc.want, tc.body)
	}

	res, body = b.do(t, "finance", "POST", "/v1/invoices/"+b.inv["a1"].Number+"/void", `{"reason":"wrong usage"}`)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "GET", "/v1/webhooks/deliveries?endpoint="+ep.ID+"&state=pending", "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var ds struct {
		Data []struct {
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &ds))
	require.Len(t, ds.Data, 1, "subscribed to invoice.voided only")
	require.Equal(t, "invoice.voided", ds.Data[0].EventType)

	// The pending delivery ages in the metrics.
	res, body = b.do(t, "none", "GET", "/metrics", "")
	require.Equal(t, 200, res.StatusCode)
	var age float64
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "billing_webhook_oldest_undelivered_seconds "); ok {
			age, err = strconv.ParseFloat(v, 64)
			require.NoError(t, err)
		}
	}
	require.Positive(t, age, "%s", body)

	res, body = b.do(t, "finance", "POST", "/v1/events/"+ds.Data[0].EventID+"/redeliver", `{"endpoint_id":"`+ep.ID+`"}`)
	require.Equal(t, 202, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "POST", "/v1/events/evt_00000000000000010000000000000001/redeliver", "")
	require.Equal(t, 404, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "POST", "/v1/events/"+ds.Data[0].EventID+"/redeliver", `{"endpoint_id":"we_other"}`)
	require.Equal(t, 404, res.StatusCode, "%s", body)

	for _, q := range []string{"?state=lost", "?status=failed"} {
		res, body = b.do(t, "finance", "GET", "/v1/webhooks/deliveries"+q, "")
		require.Equal(t, 400, res.StatusCode, "%s: %s", q, body)
	}
	res, _ = b.do(t, "finance", "DELETE", "/v1/webhooks/"+ep.ID, "")
	require.Equal(t, 200, res.StatusCode)
	res, _ = b.do(t, "finance", "DELETE", "/v1/webhooks/"+ep.ID, "")
	require.Equal(t, 404, res.StatusCode)
}
