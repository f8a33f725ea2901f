package tokenserver

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// certReloader serves the certificate in a pair of files and picks up new contents, as
// when cert-manager renews the Secret mounted at those paths.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	mu   sync.Mutex // serializes reloads
	last []byte     // certificate and key bytes of cert
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files and swaps in their certificate when it changed. A pair that
// does not parse (say, the certificate is renewed and the key is not yet) keeps the
// current certificate.
func (c *certReloader) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return err
	}
	both := slices.Concat(certPEM, keyPEM)
	if bytes.Equal(both, c.last) {
		return nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("loading TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	c.last = both
	c.log.Info("loaded TLS certificate", "certFile", c.certFile)
	return nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}
