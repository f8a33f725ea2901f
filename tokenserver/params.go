package tokenserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// maxBodyBytes bounds a token request's body.
const maxBodyBytes = 64 << 10

// readParams reads the parameters of a token request from a form or JSON body. Every
// parameter is a string and appears at most once: a repeated parameter is ambiguous
// (RFC 6749 §3.2) and refused.
func readParams(r *http.Request) (map[string]string, *oauthError) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, invalidRequest("The request body could not be read.")
	}
	if len(body) > maxBodyBytes {
		return nil, invalidRequest("The request body is larger than 64 KiB.")
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		return formParams(body)
	case "application/json":
		return jsonParams(body)
	default:
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json.")
	}
}

func formParams(body []byte) (map[string]string, *oauthError) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("The form body is malformed.")
	}
	params := make(map[string]string, len(values))
	for name, v := range values {
		if len(v) != 1 {
			return nil, invalidRequest("Parameter " + name + " is repeated.")
		}
		params[name] = v[0]
	}
	return params, nil
}

// jsonParams reads a flat JSON object of strings token by token, since decoding into a
// map would silently keep the last of repeated keys.
func jsonParams(body []byte) (map[string]string, *oauthError) {
	malformed := invalidRequest("The body must be a JSON object whose values are strings.")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed
	}
	params := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		name := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return nil, malformed
		}
		value, ok := tok.(string)
		if !ok {
			return nil, invalidRequest("Parameter " + name + " must be a string.")
		}
		if _, dup := params[name]; dup {
			return nil, invalidRequest("Parameter " + name + " is repeated.")
		}
		params[name] = value
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformed
	}
	return params, nil
}
