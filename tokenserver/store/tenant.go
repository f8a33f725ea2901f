// Package store holds what the token server serves: an immutable view of each Tenant,
// built from the snapshot and signing-key Secrets of the operator's namespace, published
// atomically so that requests never wait for a reload and never see half of one.
package store

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Tenant is the immutable view of one Tenant. Nothing in it changes after it is built;
// a new snapshot builds a new Tenant.
type Tenant struct {
	// Name is "<namespace>/<name>", for logs and metrics.
	Name     string
	Snapshot *snapshot.Snapshot
	// Clients by client_id, APIs by identifier, connectors by Connection name.
	Clients    map[string]*snapshot.Client
	APIs       map[string]*API
	Connectors map[string]connector.Connector
	// Signer signs with the current key.
	Signer *jwt.Signer
	// SigningAlgorithm is the current key's algorithm.
	SigningAlgorithm jose.SignatureAlgorithm
	// PublicKeys are the published keys by kid; JWKS is their JSON Web Key Set.
	PublicKeys map[string]jose.JSONWebKey
	JWKS       []byte
	// LoadedAt is when this view was built.
	LoadedAt time.Time

	// contentHash and keyVersions tell whether the Secrets a view was built from changed.
	contentHash string
	keyVersions map[string]string

	// userinfoURL is built once; see UserinfoURL.
	userinfoURL string
	// discovery is the view's discovery document, encoded on first use; see Discovery.
	discovery struct {
		once sync.Once
		body []byte
	}
}

// API is an audience with the signer of its tokens.
type API struct {
	snapshot.API
	// Signer is the API's HS256 signer, or the tenant's Signer.
	Signer *jwt.Signer
	// Asymmetric tells whether tokens for this API verify through the tenant's JWKS.
	Asymmetric bool
}

// Issuer is the iss of the Tenant's tokens, ending in "/".
func (t *Tenant) Issuer() string { return t.Snapshot.Issuer }

// UserinfoURL is the audience that lets an access token call userinfo.
func (t *Tenant) UserinfoURL() string { return t.userinfoURL }

// Discovery is the view's discovery document, which encode writes on the first call:
// the document depends on the view alone, so every request of a view serves the same
// bytes.
func (t *Tenant) Discovery(encode func(*Tenant) []byte) []byte {
	t.discovery.once.Do(func() { t.discovery.body = encode(t) })
	return t.discovery.body
}

// KeyMaterial is the PKCS#8 PEM of signing-key Secrets, by Secret name.
type KeyMaterial map[string][]byte

// NewTenant builds the view of snap. keys must hold every key the snapshot names.
// connectors are the snapshot's connectors by Connection name (see connectorCache).
func NewTenant(snap *snapshot.Snapshot, keys KeyMaterial, connectors map[string]connector.Connector, now time.Time) (*Tenant, error) {
	t := &Tenant{
		Name:        snap.Tenant.Namespace + "/" + snap.Tenant.Name,
		Snapshot:    snap,
		Clients:     make(map[string]*snapshot.Client, len(snap.Clients)),
		APIs:        make(map[string]*API, len(snap.APIs)),
		Connectors:  connectors,
		PublicKeys:  make(map[string]jose.JSONWebKey, len(snap.Keys)),
		LoadedAt:    now,
		userinfoURL: snapshot.UserinfoURL(snap.Issuer),
	}
	if err := t.loadKeys(keys); err != nil {
		return nil, err
	}
	for i := range snap.Clients {
		c := &snap.Clients[i]
		t.Clients[c.ClientID] = c
	}
	for _, a := range snap.APIs {
		api, err := t.newAPI(a)
		if err != nil {
			return nil, err
		}
		t.APIs[a.Identifier] = api
	}
	return t, nil
}

// loadKeys parses the tenant keys, makes a signer of the current one and publishes all.
func (t *Tenant) loadKeys(keys KeyMaterial) error {
	set := jose.JSONWebKeySet{}
	for _, k := range t.Snapshot.Keys {
		pemBytes, ok := keys[k.SecretName]
		if !ok {
			return fmt.Errorf("signing key %s: Secret %s is missing", k.KID, k.SecretName)
		}
		alg := jose.SignatureAlgorithm(k.Algorithm)
		priv, err := jwt.ParsePrivateKey(pemBytes, alg)
		if err != nil {
			return fmt.Errorf("signing key %s in Secret %s: %w", k.KID, k.SecretName, err)
		}
		pub := jwt.PublicKey(priv, k.KID, alg)
		t.PublicKeys[k.KID] = pub
		set.Keys = append(set.Keys, pub)
		if k.State == snapshot.KeyStateCurrent {
			if t.Signer != nil {
				return fmt.Errorf("more than one current signing key")
			}
			if t.Signer, err = jwt.NewSigner(alg, priv, k.KID); err != nil {
				return err
			}
			t.SigningAlgorithm = alg
		}
	}
	if t.Signer == nil {
		return fmt.Errorf("no current signing key")
	}
	var err error
	t.JWKS, err = json.Marshal(set)
	return err
}

func (t *Tenant) newAPI(a snapshot.API) (*API, error) {
	if a.Algorithm != string(jose.HS256) {
		return &API{API: a, Signer: t.Signer, Asymmetric: true}, nil
	}
	if len(a.HS256Secret) < 32 {
		return nil, fmt.Errorf("API %s: HS256 secret of %d bytes, want at least 32", a.Name, len(a.HS256Secret))
	}
	signer, err := jwt.NewSigner(jose.HS256, a.HS256Secret, "")
	if err != nil {
		return nil, fmt.Errorf("API %s: %w", a.Name, err)
	}
	return &API{API: a, Signer: signer}, nil
}
