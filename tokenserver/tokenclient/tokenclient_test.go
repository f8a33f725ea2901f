/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tokenclient

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestReadCredentials(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		flags   Credentials
		want    Credentials
		wantErr bool
	}{
		{"mounted Secret", map[string]string{FileClientID: "id", FileClientSecret: "secret\n", FileTokenURL: "http://ts/t/oauth/token"},
			Credentials{}, Credentials{"id", "secret", "http://ts/t/oauth/token"}, false},
		{"flags win over files", map[string]string{FileClientID: "id", FileTokenURL: "http://a"},
			Credentials{TokenURL: "http://b"}, Credentials{"id", "", "http://b"}, false},
		{"public client without a secret", map[string]string{FileClientID: "id", FileTokenURL: "http://a"},
			Credentials{}, Credentials{"id", "", "http://a"}, false},
		{"missing token URL", map[string]string{FileClientID: "id"}, Credentials{}, Credentials{}, true},
		{"everything from flags", nil, Credentials{"id", "s", "http://a"}, Credentials{"id", "s", "http://a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadCredentials(dir, tt.flags)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestFetchErrors checks that a token server's refusal comes back as an *Error with the
// RFC 6749 code, and that a form-encoded client_id survives Basic authentication.
func TestFetchErrors(t *testing.T) {
	const clientID = "id with:colon"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || user != "id+with%3Acolon" || r.PostForm.Get("grant_type") != "password" {
			http.Error(w, "bad request shape", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.PostForm.Get("password") {
		case "right":
			_, _ = w.Write([]byte(`{"access_token":"a.b.c","token_type":"Bearer","expires_in":60}`))
		case "empty":
			_, _ = w.Write([]byte(`{}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Wrong email or password."}`))
		}
	}))
	defer srv.Close()

	tests := []struct {
		password   string
		wantStatus int
		wantCode   string
		wantToken  string
	}{
		{"right", 0, "", "a.b.c"},
		{"wrong", http.StatusBadRequest, "invalid_grant", ""},
		{"empty", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			token, _, err := Fetch(t.Context(), srv.Client(), Request{
				Credentials: Credentials{ClientID: clientID, ClientSecret: "s", TokenURL: srv.URL},
				Username:    "u", Password: tt.password,
			})
			var answer *Error
			switch {
			case tt.wantCode != "":
				if !errors.As(err, &answer) || answer.Status != tt.wantStatus || answer.Code != tt.wantCode {
					t.Errorf("got %v, want %d %s", err, tt.wantStatus, tt.wantCode)
				}
			case tt.wantToken == "":
				if err == nil {
					t.Error("an answer without an access token was accepted")
				}
			case err != nil || token.AccessToken != tt.wantToken:
				t.Errorf("got %+v, %v", token, err)
			}
		})
	}
}

// TestFetchClientCredentials checks the two shapes of a client_credentials request: the
// secret in HTTP Basic, or the ServiceAccount token as client_assertion and no Basic.
func TestFetchClientCredentials(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = r
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"a.b.c","token_type":"Bearer","expires_in":60}`))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name        string
		credentials Credentials
		assertion   string
		wantForm    map[string]string
		wantBasic   bool
	}{
		{"secret", Credentials{ClientID: "m", ClientSecret: "s", TokenURL: srv.URL}, "",
			map[string]string{"grant_type": "client_credentials", "audience": "https://api", "client_assertion": ""}, true},
		{"ServiceAccount token", Credentials{ClientID: "m", TokenURL: srv.URL}, "sa.token.jwt",
			map[string]string{"grant_type": "client_credentials", "client_id": "m", "client_assertion_type": AssertionTypeJWTBearer,
				"client_assertion": "sa.token.jwt", "audience": "https://api"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Fetch(t.Context(), srv.Client(), Request{Credentials: tc.credentials, Assertion: tc.assertion, ClientCredentials: true, Audience: "https://api"}); err != nil {
				t.Fatal(err)
			}
			for key, want := range tc.wantForm {
				if v := got.PostForm.Get(key); v != want {
					t.Errorf("%s = %q, want %q", key, v, want)
				}
			}
			if _, ok := got.PostForm["password"]; ok {
				t.Error("a client_credentials request sent a password")
			}
			if _, _, basic := got.BasicAuth(); basic != tc.wantBasic {
				t.Errorf("HTTP Basic sent: %v, want %v", basic, tc.wantBasic)
			}
		})
	}
}
