package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The API description, docs/openapi.json, checked against every response
// the HTTP tests see: a test's client sends its requests through
// validatingTransport, which fails the test when a response's route,
// status, headers or body is not what the description says. A route or a
// status the description doesn't name fails it too, so a new route can't
// be served undocumented.

var loadOpenAPI = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../../docs/openapi.json")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("docs/openapi.json is not a valid description: %w", err)
	}
	return doc, nil
})

func init() {
	openapi3filter.RegisterBodyDecoder("application/pdf", openapi3filter.FileBodyDecoder)
}

// openAPIRouter matches requests to the description's operations, whatever
// the test server's address.
var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	local := *doc
	local.Servers = openapi3.Servers{{URL: "/"}}
	return gorillamux.NewRouter(&local)
})

// validatingTransport validates every response against docs/openapi.json.
type validatingTransport struct {
	t    testing.TB
	base http.RoundTripper
}

// apiClient is an HTTP client whose responses are validated.
func apiClient(t testing.TB) *http.Client {
	return &http.Client{Transport: validatingTransport{t: t, base: http.DefaultTransport}}
}

func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := v.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(req, res, body); err != nil {
		v.t.Errorf("docs/openapi.json doesn't describe the answer to %s %s (%d): %v\nbody: %.500s", req.Method, req.URL.RequestURI(), res.StatusCode, err, body)
	}
	return res, nil
}

func validateResponse(req *http.Request, res *http.Response, body []byte) error {
	if strings.HasPrefix(req.URL.Path, "/riverui/") {
		return nil // River UI's own API, served by River
	}
	router, err := openAPIRouter()
	if err != nil {
		return err
	}
	// Match on the path alone: the server is the test's.
	u := *req.URL
	u.Scheme, u.Host = "", ""
	probe := req.Clone(context.Background())
	probe.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	probe.Host = ""
	route, params, err := router.FindRoute(probe)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed) && res.StatusCode == http.StatusMethodNotAllowed,
		errors.Is(err, routers.ErrPathNotFound) && res.StatusCode == http.StatusNotFound:
		// Not an operation: the catch-all's answer, an Error.
		return validateError(body)
	case err != nil:
		return fmt.Errorf("undocumented route: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  res.StatusCode,
		Header:  res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// validateError checks a body against the description's Error schema.
func validateError(body []byte) error {
	doc, err := loadOpenAPI()
	if err != nil {
		return err
	}
	ref := doc.Components.Schemas["Error"]
	if ref == nil {
		return errors.New("no Error schema")
	}
	v, err := decodeJSONValue(body)
	if err != nil {
		return err
	}
	return ref.Value.VisitJSON(v)
}

func decodeJSONValue(b []byte) (any, error) {
	var v any
	dec := jsonDecoder(b)
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return v, nil
}

func jsonDecoder(b []byte) *json.Decoder { return json.NewDecoder(bytes.NewReader(b)) }

// The validator fails on what the description doesn't say: a route it
// doesn't list (another branch's, not documented yet), a status an
// operation doesn't name, a field an object doesn't have, a wrong type.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	t.Parallel()
	account := `{"id":"a1","name":"A","email":"a@x.test","country":"FR","vat_number":null,"status":"active",` +
		`"created_at":"2026-01-01T00:00:00Z","referred_by":null,"credit_balance":"0.00","payment_method":null}`
	check := func(method, path string, status int, body string) error {
		req, err := http.NewRequest(method, "http://127.0.0.1:1"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}}
		return validateResponse(req, res, []byte(body))
	}
	if err := check("GET", "/v1/accounts/a1", 200, account); err != nil {
		t.Fatalf("a described answer: %v", err)
	}
	if err := check("DELETE", "/v1/accounts/a1", 405, `{"error":{"code":"method_not_allowed","message":"m"}}`); err != nil {
		t.Fatalf("the catch-all's 405: %v", err)
	}
	for name, err := range map[string]error{
		"undocumented route":  check("GET", "/v1/coupons", 200, `{"data":[],"next":null}`),
		"undocumented status": check("GET", "/v1/accounts/a1", 418, `{"error":{"code":"teapot","message":"m"}}`),
		"undocumented field":  check("GET", "/v1/accounts/a1", 200, strings.Replace(account, `"id":"a1",`, `"id":"a1","colour":"red",`, 1)),
		"missing field":       check("GET", "/v1/accounts/a1", 200, strings.Replace(account, `"credit_balance":"0.00",`, ``, 1)),
		"wrong type":          check("GET", "/v1/accounts/a1", 200, strings.Replace(account, `"credit_balance":"0.00"`, `"credit_balance":0`, 1)),
		"error shape":         check("GET", "/v1/accounts/a1", 404, `{"message":"not found"}`),
		"unknown path's body": check("GET", "/nowhere", 404, `not json`),
	} {
		if err == nil {
			t.Errorf("%s: the validator let it through", name)
		}
	}
}
