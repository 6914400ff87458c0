package notify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/notify"
)

// referenceVerify runs the npm standardwebhooks library on one message and
// returns what it says: "ok …" or "rejected: …". Without npm the test is
// skipped, except where BILLING_REQUIRE_NPM is set (CI), where it fails.
func referenceVerify(t *testing.T, secret string, headers map[string]string, body string) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("BILLING_REQUIRE_NPM") != "" {
			t.Fatal("npm is required (BILLING_REQUIRE_NPM): the signatures are verified with the npm package standardwebhooks")
		}
		t.Skip("npm is not installed: the signatures can't be checked against the npm package standardwebhooks (CI installs it)")
	}
	out, err := exec.Command("../../scripts/standardwebhooks").Output()
	require.NoError(t, err, "scripts/standardwebhooks")
	dir := strings.TrimSpace(string(out))
	in, err := json.Marshal(map[string]any{"secret": secret, "headers": headers, "body": body})
	require.NoError(t, err)
	cmd := exec.Command("node", "testdata/verify.js")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	res, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", res)
	return strings.TrimSpace(string(res))
}

func signed(t *testing.T, secret, id string, at time.Time, body string) map[string]string {
	t.Helper()
	sig, err := notify.Sign(secret, id, at, []byte(body))
	require.NoError(t, err)
	return map[string]string{notify.HeaderID: id, notify.HeaderTimestamp: strconv.FormatInt(at.Unix(), 10), notify.HeaderSignature: sig}
}

// Our signatures are what the reference library accepts; a body changed
// after signing, or a message signed long ago, or with another secret, is
// rejected by it, and by our own Verify (the README's Go snippet) alike.
func TestSignaturesVerifyWithTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	secret, err := notify.NewSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	other, err := notify.NewSecret()
	require.NoError(t, err)
	id := "evt_00000000000002e20000000000000001"
	body := `{"id":"evt_00000000000002e20000000000000001","type":"credit.added","created_at":"2026-11-02T10:00:00Z","account_id":"acc_1","data":{"amount":"25.00","kind":"finance","reference":"gift-1 é"}}`
	now := time.Now()

	h := signed(t, secret, id, now, body)
	require.True(t, strings.HasPrefix(referenceVerify(t, secret, h, body), "ok "), "a fresh, untouched message")
	require.NoError(t, notify.Verify(secret, h[notify.HeaderID], h[notify.HeaderTimestamp], h[notify.HeaderSignature], []byte(body), now))

	tampered := strings.Replace(body, "25.00", "2500.00", 1)
	require.Contains(t, referenceVerify(t, secret, h, tampered), "rejected")
	require.ErrorIs(t, notify.Verify(secret, id, h[notify.HeaderTimestamp], h[notify.HeaderSignature], []byte(tampered), now), notify.ErrBadSignature)

	old := signed(t, secret, id, now.Add(-10*time.Minute), body)
	require.Contains(t, referenceVerify(t, secret, old, body), "rejected")
	require.ErrorIs(t, notify.Verify(secret, id, old[notify.HeaderTimestamp], old[notify.HeaderSignature], []byte(body), now), notify.ErrBadSignature)

	require.Contains(t, referenceVerify(t, other, h, body), "rejected", "another endpoint's secret")

	// Another id under the same signature: a replay as another event.
	moved := map[string]string{notify.HeaderID: "evt_00000000000002e20000000000000002", notify.HeaderTimestamp: h[notify.HeaderTimestamp], notify.HeaderSignature: h[notify.HeaderSignature]}
	require.Contains(t, referenceVerify(t, secret, moved, body), "rejected")
}

// The signature is the one of the Standard Webhooks specification's
// example: a fixed key, id, timestamp and body give a known value.
func TestSignKnownValue(t *testing.T) {
	t.Parallel()
	// From the specification's test vectors (standard-webhooks, libraries'
	// tests): secret MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, msg_p5jXN8AQM9LWM0D4loKWxJek.
	sig, err := notify.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
	_, err = notify.Sign("not-a-secret", "x", time.Now(), nil)
	require.Error(t, err)
}
