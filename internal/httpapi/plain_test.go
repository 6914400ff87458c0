package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestPlainMessageHasNoGoTypes(t *testing.T) {
	var pi struct {
		Amount int64 `json:"amount"`
	}
	err := json.Unmarshal([]byte(`{"amount":"x"}`), &pi)
	if got, want := plainMessage(fmt.Errorf("bad event: event evt_1: %w", err)), "bad event: event evt_1: amount: unexpected string"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	err = json.Unmarshal([]byte(`[1]`), &pi)
	if got, want := plainMessage(err), "expected a JSON object, got array"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	type PaymentIntent struct {
		Meta struct {
			Key string `json:"key"`
		} `json:"metadata"`
	}
	var p PaymentIntent
	err = json.Unmarshal([]byte(`{"metadata":{"key":1}}`), &p)
	if got, want := plainMessage(err), "metadata.key: unexpected number"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
