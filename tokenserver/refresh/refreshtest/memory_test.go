package refreshtest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

func TestMemory(t *testing.T) {
	Run(t, func(*testing.T) refresh.Store { return NewMemory() })
}
