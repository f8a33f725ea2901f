package adfstest

import (
	"net/http"

	"github.com/beevik/etree"
)

// MexPath is where ADFS serves its WS-MetadataExchange document, which Entra ID's
// user-realm discovery names as a federated domain's federation_metadata_url.
const MexPath = "/adfs/services/trust/mex"

// Namespaces of the mex document.
const (
	nsWSDL           = "http://schemas.xmlsoap.org/wsdl/"
	nsWSDLSOAP12     = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsSecurityPolicy = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
	nsWSAW           = "http://www.w3.org/2006/05/addressing/wsdl"
)

// usernameMixedBinding names the binding and port of the usernamemixed endpoint, and its
// policy, as an ADFS farm's mex document does.
const usernameMixedBinding = "UserNameWSTrustBinding_IWSTrust13Async"

// mex serves the WS-MetadataExchange document of the usernamemixed endpoint: a WSDL 1.1
// definitions whose policy asks for a UsernameToken over a transport binding, whose SOAP
// 1.2 binding's operation is WS-Trust 1.3's Issue, and whose port's endpoint reference
// is the endpoint's URL. Only that endpoint is listed (ADFS lists its Windows and
// certificate endpoints too). The element and attribute names are those MSAL Go reads
// (apps/internal/oauth/ops/wstrust/defs/mex_document_definitions.go, parsed by
// wstrust_mex_document.go: policies, bindings, endpoints).
func (s *Server) mex(w http.ResponseWriter, _ *http.Request) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	defs := doc.CreateElement("wsdl:definitions")
	defs.CreateAttr("name", "SecurityTokenService")
	defs.CreateAttr("targetNamespace", "http://tempuri.org/")
	for prefix, ns := range map[string]string{"wsdl": nsWSDL, "soap12": nsWSDLSOAP12, "wsu": nsUtility, "wsp": nsPolicy,
		"wsa10": nsAddressing, "wsaw": nsWSAW, "tns": "http://tempuri.org/"} {
		defs.CreateAttr("xmlns:"+prefix, ns)
	}

	policy := defs.CreateElement("wsp:Policy")
	policy.CreateAttr("wsu:Id", usernameMixedBinding+"_policy")
	all := policy.CreateElement("wsp:ExactlyOne").CreateElement("wsp:All")
	transport := all.CreateElement("sp:TransportBinding")
	transport.CreateAttr("xmlns:sp", nsSecurityPolicy)
	transportPolicy := transport.CreateElement("wsp:Policy")
	transportPolicy.CreateElement("sp:TransportToken").CreateElement("wsp:Policy").CreateElement("sp:HttpsToken")
	transportPolicy.CreateElement("sp:AlgorithmSuite").CreateElement("wsp:Policy").CreateElement("sp:Basic256")
	transportPolicy.CreateElement("sp:Layout").CreateElement("wsp:Policy").CreateElement("sp:Strict")
	transportPolicy.CreateElement("sp:IncludeTimestamp")
	supporting := all.CreateElement("sp:SignedEncryptedSupportingTokens")
	supporting.CreateAttr("xmlns:sp", nsSecurityPolicy)
	token := supporting.CreateElement("wsp:Policy").CreateElement("sp:UsernameToken")
	token.CreateAttr("sp:IncludeToken", nsSecurityPolicy+"/IncludeToken/AlwaysToRecipient")
	token.CreateElement("wsp:Policy").CreateElement("sp:WssUsernameToken10")
	all.CreateElement("wsaw:UsingAddressing")

	binding := defs.CreateElement("wsdl:binding")
	binding.CreateAttr("name", usernameMixedBinding)
	binding.CreateAttr("type", "tns:IWSTrust13Async")
	binding.CreateElement("wsp:PolicyReference").CreateAttr("URI", "#"+usernameMixedBinding+"_policy")
	binding.CreateElement("soap12:binding").CreateAttr("transport", "http://schemas.xmlsoap.org/soap/http")
	operation := binding.CreateElement("wsdl:operation")
	operation.CreateAttr("name", "Trust13IssueAsync")
	soapOperation := operation.CreateElement("soap12:operation")
	soapOperation.CreateAttr("soapAction", nsTrust13+"/RST/Issue")
	soapOperation.CreateAttr("style", "document")
	for _, io := range []string{"wsdl:input", "wsdl:output"} {
		operation.CreateElement(io).CreateElement("soap12:body").CreateAttr("use", "literal")
	}

	endpoint := s.URL() + "/adfs/services/trust/13/usernamemixed"
	port := defs.CreateElement("wsdl:service")
	port.CreateAttr("name", "SecurityTokenService")
	port = port.CreateElement("wsdl:port")
	port.CreateAttr("name", usernameMixedBinding)
	port.CreateAttr("binding", "tns:"+usernameMixedBinding)
	port.CreateElement("soap12:address").CreateAttr("location", endpoint)
	port.CreateElement("wsa10:EndpointReference").CreateElement("wsa10:Address").SetText(endpoint)

	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = doc.WriteTo(w)
}
