package tokentest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// ProcessCPU is the CPU time this process has used, user and system.
func ProcessCPU(t testing.TB) time.Duration {
	t.Helper()
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		t.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// LoginFloor is the CPU of the work a directory login cannot avoid: two signatures
// with key (the access token and the id_token) and the directory's own round trips
// (search, bind and group search) through directory, done by concurrency goroutines at
// once as the logins it is compared to were. It is measured in this process, so a
// benchmark compares it with the CPU per login of the server it measures.
func LoginFloor(t testing.TB, directory connector.Connector, key crypto.Signer, username, password string, concurrency int) time.Duration {
	t.Helper()
	digest := sha256.Sum256([]byte("a signing input"))
	rounds := max(4, 128/concurrency)
	var wg sync.WaitGroup
	start := ProcessCPU(t)
	for range concurrency {
		wg.Go(func() {
			for range rounds {
				for range 2 {
					if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
						t.Error(err)
					}
				}
				if _, err := directory.Login(t.Context(), username, password); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return (ProcessCPU(t) - start) / time.Duration(rounds*concurrency)
}
