package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every endpoint secret: the rest is the base64 key.
const SecretPrefix = "whsec_"

// NewSecret returns a new endpoint secret: whsec_ and 24 random bytes in
// base64, the key HMAC-SHA256 is keyed with.
func NewSecret() (string, error) {
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("a webhook secret starts with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("the webhook secret after %s is not base64: %w", SecretPrefix, err)
	}
	return key, nil
}

// Sign returns the webhook-signature header value of a message: "v1,"
// and the base64 HMAC-SHA256 of "id.timestamp.body", keyed with the
// base64-decoded part of the secret after whsec_.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(at.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Tolerance is how far a message's timestamp may be from the receiver's
// clock, as the Standard Webhooks libraries check it.
const Tolerance = 5 * time.Minute

// ErrBadSignature is returned by Verify for a message that was not signed
// with the secret, or not at its timestamp.
var ErrBadSignature = errors.New("webhook signature does not match")

// Verify checks a message as a receiver would: one of the space-separated
// v1 signatures matches, and the timestamp is within Tolerance of now. It
// is the README's Go snippet, tested against Sign.
func Verify(secret, id, timestamp, signatures string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q: %w", HeaderTimestamp, timestamp, ErrBadSignature)
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-Tolerance)) || at.After(now.Add(Tolerance)) {
		return fmt.Errorf("%s %s is too far from now: %w", HeaderTimestamp, timestamp, ErrBadSignature)
	}
	want, err := Sign(secret, id, at, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(signatures) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// SuspensionSignatureHeader carries the suspension webhook's signature (SPEC
// §5), kept as it always was: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" with SUSPENSION_WEBHOOK_SECRET>.
const SuspensionSignatureHeader = "X-Billing-Signature"

// SignSuspension returns the suspension webhook's signature header value for
// body at t.
func SignSuspension(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
