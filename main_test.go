package main

import (
	"os"
	"testing"
)

// TestHelpSucceeds: asking any subcommand for its flags is not an error.
func TestHelpSucceeds(t *testing.T) {
	stderr := os.Stderr
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	os.Stderr = devnull // the flag package prints the usage there
	defer func() { os.Stderr = stderr }()
	for name, c := range commands {
		if code := c.run([]string{"-h"}); code != 0 {
			t.Errorf("gatehouse %s -h exited %d, want 0", name, code)
		}
	}
}
