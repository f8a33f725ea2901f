package tokenserver

import (
	"bytes"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// assertInvalidRequest fails unless oerr is a client error of the request's form.
func assertInvalidRequest(t *testing.T, oerr *oauthError) {
	t.Helper()
	if oerr.status != http.StatusBadRequest || oerr.code != "invalid_request" || oerr.description == "" {
		t.Fatalf("parse error %d %q %q, want 400 invalid_request with a description", oerr.status, oerr.code, oerr.description)
	}
}

func tokenRequest(contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}

// FuzzReadParams checks that token-request parsing never panics, refuses only with
// invalid_request, and accepts exactly the parameters sent once.
func FuzzReadParams(f *testing.F) {
	for _, seed := range []struct{ contentType, body string }{
		{formType, "grant_type=password&client_id=c&username=alice&password=p%26w+d"},
		{formType + "; charset=utf-8", "scope=openid+profile&audience=https%3A%2F%2Fapi"},
		{formType, "scope=openid&scope=profile"},
		{formType, "a=1;b=2"},
		{formType, "%zz=1"},
		{formType, ""},
		{"application/json", `{"grant_type":"password","username":"alice","password":"p\u0026w"}`},
		{"application/json; charset=utf-8", `{"a":"1","a":"2"}`},
		{"application/json", `{"a":["x"]}`},
		{"application/json", `{"a":{"b":"c"}}`},
		{"application/json", `{"a":"1"} {"b":"2"}`},
		{"application/json", `{"a":"\ud800"}`},
		{"application/json", `["a"]`},
		{"application/json", `{"a":`},
		{"text/plain", "a=1"},
		{"multipart/form-data; boundary=x", "--x--"},
		{"", "a=1"},
		{"application/json; charset", "{}"},
	} {
		f.Add(seed.contentType, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		params, oerr := readParams(tokenRequest(contentType, body))
		if oerr != nil {
			assertInvalidRequest(t, oerr)
			return
		}
		var sent map[string]string
		if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == "application/json" {
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatalf("accepted %q, which is not a JSON object of strings: %v", body, err)
			}
		} else {
			values, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("accepted a malformed form %q: %v", body, err)
			}
			sent = map[string]string{}
			for name, v := range values {
				if len(v) != 1 {
					t.Fatalf("accepted repeated parameter %q in %q", name, body)
				}
				sent[name] = v[0]
			}
		}
		if !maps.Equal(params, sent) {
			t.Fatalf("parsed %q as %v, want %v", body, params, sent)
		}

		// What was accepted survives being sent again as a form.
		again := make(url.Values, len(params))
		for name, v := range params {
			again.Set(name, v)
		}
		if encoded := again.Encode(); len(encoded) <= maxBodyBytes {
			reparsed, oerr := readParams(tokenRequest(formType, []byte(encoded)))
			if oerr != nil || !maps.Equal(reparsed, params) {
				t.Fatalf("re-sent %v as a form, parsed %v, %v", params, reparsed, oerr)
			}
		}
	})
}

// FuzzBasicCredentials checks that HTTP Basic client authentication never panics,
// refuses only with invalid_request, and round-trips form-encoded credentials.
func FuzzBasicCredentials(f *testing.F) {
	for _, seed := range []struct{ authorization, id, secret string }{
		{"Basic Y2xpZW50OnNlY3JldA==", "client", "secret"},
		{"Basic YSUzQWI6YytkJTI1", "a:b", "c d%"},
		{"Basic JXp6OnNlY3JldA==", "", ""},
		{"Basic bm9jb2xvbg==", "é", "\x00\xff"},
		{"Basic !!!", "+", "%"},
		{"Bearer token", "id", ""},
		{"basic Og==", "", "only:secret"},
		{"", "", ""},
	} {
		f.Add(seed.authorization, seed.id, seed.secret)
	}
	f.Fuzz(func(t *testing.T, authorization, id, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
		r.Header.Set("Authorization", authorization)
		gotID, gotSecret, basic, oerr := basicCredentials(r)
		if oerr != nil {
			assertInvalidRequest(t, oerr)
		} else if basic {
			r.SetBasicAuth(url.QueryEscape(gotID), url.QueryEscape(gotSecret))
			if againID, againSecret, _, _ := basicCredentials(r); againID != gotID || againSecret != gotSecret {
				t.Fatalf("re-encoding %q %q parsed as %q %q", gotID, gotSecret, againID, againSecret)
			}
		}

		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		gotID, gotSecret, basic, oerr = basicCredentials(r)
		if !basic || oerr != nil || gotID != id || gotSecret != secret {
			t.Fatalf("sent %q %q, parsed %q %q, %v, %v", id, secret, gotID, gotSecret, basic, oerr)
		}
	})
}
