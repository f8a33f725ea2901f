package azuread

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs"
)

// AADSTS codes of Entra ID's refusals (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
const (
	codeInvalidPassword = 50126 // invalid username or password
	codeUserNotFound    = 50034 // the user account does not exist in the directory
	codeDisabled        = 50057 // the user account is disabled
	codeLocked          = 50053 // locked after too many attempts, or sign-in from a blocked IP
	codePasswordExpired = 50055 // the password expired
	codeNullPassword    = 50056 // invalid or null password
	codeADPasswordExp   = 50144 // the Active Directory password expired
	codeMFARequired     = 50076 // multi-factor authentication required by policy
	codeMFAEnrollment   = 50079 // the user must enroll for multi-factor authentication
	codeConsentRequired = 65001 // neither the user nor an administrator consented to the app
)

// credentialCodes are the refusals answered alike: the client cannot tell a wrong
// password from an unknown, disabled, locked or expired account.
var credentialCodes = []int{codeInvalidPassword, codeUserNotFound, codeDisabled, codeLocked, codePasswordExpired, codeNullPassword, codeADPasswordExp}

// Descriptions of the refusals the user or an administrator can act on. They go to the
// client as error_description, so they hold none of the characters RFC 6749 §5.2 bars.
const (
	describeMFA     = "The directory requires multi-factor authentication for this user, which the password grant cannot perform. Sign in with an interactive flow, or ask an administrator to exempt this application from the MFA policy."
	describeConsent = "Nobody has consented to this application in the directory. An administrator must grant consent to the app registration."
)

// errorBody is the error answer of the v2.0 token endpoint, as Microsoft documents it:
// {"error": "invalid_grant", "error_description": "AADSTS50126: ...", "error_codes": [50126], ...}.
type errorBody struct {
	Error string `json:"error"`
	Codes []int  `json:"error_codes"`
}

// classify maps MSAL's error to the connector's. What MSAL's errors say is never passed
// on: they hold whole upstream answers, which for a malformed success can be tokens.
func classify(err error) error {
	var call msalerrors.CallErr
	var badJSON msalerrors.InvalidJsonErr
	switch {
	case errors.Is(err, errUnknownRealm):
		return fmt.Errorf("%w: %w", connector.ErrInvalidCredentials, errUnknownRealm)
	case errors.As(err, &call) && call.Req != nil && call.Resp != nil:
		return classifyAnswer(call.Req, call.Resp)
	case errors.As(err, &badJSON):
		return fmt.Errorf("%w: the authority's answer is not the JSON expected", connector.ErrUnavailable)
	}
	// Transport errors (refused, timed out, TLS, the upstream policy) and MSAL's own
	// checks of the answers it parsed.
	return fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
}

// classifyAnswer maps an answer other than 200 by its HTTP status and AADSTS codes.
func classifyAnswer(req *http.Request, resp *http.Response) error {
	where := req.URL.Host + req.URL.Path
	raw, _ := io.ReadAll(resp.Body)
	if req.Header.Get("SOAPAction") != "" {
		// The federation server of a federated domain, asked with WS-Trust, answers a
		// wrong password with a SOAP fault and HTTP 500.
		if code, refused := adfs.FailedAuthentication(raw); refused {
			return fmt.Errorf("%w: the federation server %s refused the credentials (%s)", connector.ErrInvalidCredentials, where, code)
		}
	}
	var body errorBody
	_ = json.Unmarshal(raw, &body)
	what := fmt.Sprintf("HTTP %d from %s, %s", resp.StatusCode, where, describeCodes(body))
	switch code := firstCode(body.Codes); {
	case resp.StatusCode >= http.StatusInternalServerError || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s", connector.ErrUnavailable, what)
	case slices.Contains(credentialCodes, code):
		return fmt.Errorf("%w: %s", connector.ErrInvalidCredentials, what)
	case code == codeMFARequired || code == codeMFAEnrollment:
		return &connector.RefusedError{Description: describeMFA, Reason: "multi-factor authentication required: " + what}
	case code == codeConsentRequired:
		return &connector.RefusedError{Description: describeConsent, Reason: "consent required: " + what}
	case body.Error == "invalid_grant":
		// Another refusal of the user's grant (Conditional Access, a password to
		// change): the user cannot log in, and it counts as a failure.
		return fmt.Errorf("%w: %s", connector.ErrInvalidCredentials, what)
	}
	// invalid_client, unauthorized_client, invalid_scope, an unknown tenant: the
	// Connection or its app registration is wrong, which no user can fix.
	return fmt.Errorf("%w: %s", connector.ErrUnavailable, what)
}

func firstCode(codes []int) int {
	if len(codes) == 0 {
		return 0
	}
	return codes[0]
}

// describeCodes names the error and AADSTS codes of an answer for logs; its description
// is left out (it repeats the codes, with trace IDs).
func describeCodes(body errorBody) string {
	if body.Error == "" && len(body.Codes) == 0 {
		return "no OAuth error"
	}
	codes := make([]string, len(body.Codes))
	for i, c := range body.Codes {
		codes[i] = "AADSTS" + strconv.Itoa(c)
	}
	return strings.TrimSpace(body.Error + " " + strings.Join(codes, " "))
}
