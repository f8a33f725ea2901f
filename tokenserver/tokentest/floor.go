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
	return CPUPerOp(t, concurrency, func() error {
		for range 2 {
			if err := Sign(key); err != nil {
				return err
			}
		}
		_, err := directory.Login(t.Context(), username, password)
		return err
	})
}

// Sign makes one SHA-256 signature with key, as a token's costs.
func Sign(key crypto.Signer) error {
	digest := sha256.Sum256([]byte("a signing input"))
	_, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	return err
}

// CPUPerOp is the CPU this process spends on one op, done by concurrency goroutines at
// once, as the requests a floor is compared to were.
func CPUPerOp(t testing.TB, concurrency int, op func() error) time.Duration {
	t.Helper()
	rounds := max(4, 128/concurrency)
	var wg sync.WaitGroup
	start := ProcessCPU(t)
	for range concurrency {
		wg.Go(func() {
			for range rounds {
				if err := op(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return (ProcessCPU(t) - start) / time.Duration(rounds*concurrency)
}
