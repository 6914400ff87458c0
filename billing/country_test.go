package billing

import "testing"

func TestValidCountry(t *testing.T) {
	t.Parallel()
	if n := len(countries); n != 250 {
		t.Errorf("country table has %d codes, want 249 ISO codes + XK", n)
	}
	for _, c := range []string{"FR", "DE", "GR", "GB", "US", "XK", "JP"} {
		if !ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = false", c)
		}
	}
	for _, c := range []string{"", "UK", "EL", "fr", "FRA", "XX", "EU"} {
		if ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = true", c)
		}
	}
}
