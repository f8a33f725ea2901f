package tokenserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// ListenOptions configure the token server's listeners.
type ListenOptions struct {
	// BindAddress serves the tenants; MetricsBindAddress serves /metrics, /healthz and
	// /readyz in plain HTTP, for Prometheus and the kubelet.
	BindAddress        string
	MetricsBindAddress string
	// TLSCertFile and TLSKeyFile, when both set, make BindAddress serve HTTPS, reloading
	// the pair every CertReloadInterval.
	TLSCertFile        string
	TLSKeyFile         string
	CertReloadInterval time.Duration

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds how long in-flight requests may finish after ctx ends.
	ShutdownTimeout time.Duration
}

// Serve runs the handler and the operations endpoints until ctx ends, then stops
// accepting connections and waits for in-flight requests.
func Serve(ctx context.Context, opts ListenOptions, handler http.Handler, st *store.Store, registry *prometheus.Registry, log *slog.Logger) error {
	var lc net.ListenConfig
	main, err := lc.Listen(ctx, "tcp", opts.BindAddress)
	if err != nil {
		return err
	}
	ops, err := lc.Listen(ctx, "tcp", opts.MetricsBindAddress)
	if err != nil {
		return errors.Join(err, main.Close())
	}
	return ServeListeners(ctx, opts, main, ops, handler, st, registry, log)
}

// ServeListeners is Serve on listeners the caller opened.
func ServeListeners(ctx context.Context, opts ListenOptions, main, ops net.Listener, handler http.Handler, st *store.Store, registry *prometheus.Registry, log *slog.Logger) error {
	srv := newHTTPServer(opts, handler, log)
	opsSrv := newHTTPServer(opts, opsHandler(st, registry), log)

	if opts.TLSCertFile != "" || opts.TLSKeyFile != "" {
		if opts.TLSCertFile == "" || opts.TLSKeyFile == "" {
			return errors.New("--tls-cert-file and --tls-key-file go together")
		}
		certs, err := newCertReloader(opts.TLSCertFile, opts.TLSKeyFile, log)
		if err != nil {
			return err
		}
		go reloadEvery(ctx, opts.CertReloadInterval, certs, log)
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.getCertificate}
		main = tls.NewListener(main, srv.TLSConfig)
		log.Info("serving HTTPS", "address", main.Addr().String())
	} else {
		log.Info("serving plain HTTP: no TLS certificate configured", "address", main.Addr().String())
	}

	errs := make(chan error, 2)
	for _, s := range []struct {
		srv *http.Server
		l   net.Listener
	}{{srv, main}, {opsSrv, ops}} {
		go func() {
			if err := s.srv.Serve(s.l); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", opts.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	return errors.Join(srv.Shutdown(shutdownCtx), opsSrv.Shutdown(shutdownCtx))
}

func newHTTPServer(opts ListenOptions, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func opsHandler(st *store.Store, registry *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !st.Ready() {
			http.Error(w, "snapshots not loaded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func reloadEvery(ctx context.Context, interval time.Duration, certs *certReloader, log *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := certs.reload(); err != nil {
				log.Error("keeping the current TLS certificate", "error", err)
			}
		}
	}
}
