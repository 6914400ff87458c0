package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"
)

// decodeJSON reads a JSON body into v, or answers 4xx and reports false.
// Refused: unknown fields, trailing data, invalid UTF-8 (encoding/json
// would quietly turn it into U+FFFD, and a void reason would then not be
// what finance typed) and keys given twice (encoding/json keeps the last,
// so what a proxy or a log checked might not be what is done). Messages
// speak JSON, never Go.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		bodyReadError(w, err)
		return false
	}
	if !utf8.Valid(body) {
		writeError(w, http.StatusBadRequest, "bad_request", "the body is not valid UTF-8")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be one JSON object: there is data after it")
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", jsonProblem(err))
		return false
	}
	if key, dup := duplicateKey(body); dup {
		writeError(w, http.StatusBadRequest, "duplicate_key", fmt.Sprintf("the key %q appears twice in one object: give each key once", key))
		return false
	}
	return true
}

// bodyReadError answers a body that could not be read.
func bodyReadError(w http.ResponseWriter, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
	case isTimeout(err):
		writeError(w, http.StatusRequestTimeout, "timeout", "the request body did not arrive in time")
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read")
	}
}

// isTimeout reports whether reading a body failed because the client was
// too slow.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// jsonProblem says what is wrong with a body encoding/json refused, in the
// caller's terms: JSON types and field names, not Go's.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty: a JSON object is required"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of its JSON"
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", article(typ.Value))
		}
		return fmt.Sprintf("%s: must be %s, not %s", typ.Field, jsonKind(typ.Type), article(typ.Value))
	}
	// The rest are "json: unknown field \"x\"" and the nesting limit.
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		return msg + ": the fields are those the API documents"
	}
	return "the body is not a JSON object the API accepts: " + msg
}

// jsonKind names the JSON a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// article puts "a" or "an" before the JSON kind encoding/json names.
func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "number", "string", "bool":
		return "a " + kind
	}
	return kind
}

// duplicateKey returns the first key that appears twice in one object of
// a valid JSON document, dotted with the keys of the objects around it.
// Keys are compared as encoding/json matches them to fields, without
// regard to case: {"reason":…,"Reason":…} also sets one field twice.
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		object  bool
		wantKey bool
		key     string
		keys    map[string]bool
	}
	var stack []*frame
	path := func(key string) string {
		var parts []string
		for _, f := range stack[:len(stack)-1] {
			if f.object {
				parts = append(parts, f.key)
			}
		}
		return strings.Join(append(parts, key), ".")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			// io.EOF, or a body Decode has refused already.
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			key, _ := tok.(string)
			folded := strings.ToLower(key)
			if top.keys[folded] {
				return path(key), true
			}
			top.keys[folded], top.key, top.wantKey = true, key, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the object around it expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
}

var (
	goFieldType = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go struct field (?:\w*\.)?([\w.]+) of type [^\s:;,]+`)
	goValueType = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go value of type [^\s:;,]+(?: \{[^}]*\})?`)
)

// plainMessage is err's message with encoding/json's Go types put in
// JSON's terms, for messages that quote a library's decoding error (a
// processor's event): "data.amount: unexpected string", never "Go struct
// field PaymentIntent.amount of type int64".
func plainMessage(err error) string {
	msg := goFieldType.ReplaceAllString(err.Error(), "$2: unexpected $1")
	return goValueType.ReplaceAllString(msg, "expected a JSON object, got $1")
}
