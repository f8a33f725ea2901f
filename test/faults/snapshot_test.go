package faults_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestCorruptedSnapshot overwrites a Tenant's snapshot Secret with garbage while the
// token server serves: the token server keeps serving its last good view and says so in
// a metric and a log line, and the controller writes the snapshot again.
//
// The controller is paused while the Secret is garbage, so that the token server is sure
// to read it before the repair; the same controller process repairs it once resumed.
// The garbage comes with a content hash of its own, as a new snapshot would: a token
// server skips parts whose hash it has already loaded.
func TestCorruptedSnapshot(t *testing.T) {
	controller, tokenServer := sys.StartGatehouse(t)
	acme := applySample(t, "corrupt-snapshot")
	tenantName := acme.tenant.Namespace + "/" + acme.tenant.Name
	keptLastGood := fmt.Sprintf(`gatehouse_tokenserver_snapshot_reloads_total{result="error",tenant=%q}`, tenantName)

	sys.Get(t, acme.tenant)
	part := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemtest.OperatorNamespace, Name: snapshot.SecretName(string(acme.tenant.UID), 0)}}
	sys.Get(t, part)
	good, goodHash := part.Data[snapshot.DataKey], part.Annotations[snapshot.AnnotationContentHash]
	before := systemtest.Metric(t, tokenServer.MetricsURL, keptLastGood)

	controller.Pause(t)
	sys.Update(t, part, func() {
		part.Data[snapshot.DataKey] = []byte(rand.Text())
		part.Annotations[snapshot.AnnotationContentHash] = "garbage"
	})
	systemtest.Eventually(t, "the token server counts the snapshot it could not load", func() error {
		if v := systemtest.Metric(t, tokenServer.MetricsURL, keptLastGood); v <= before {
			return fmt.Errorf("%s is %v", keptLastGood, v)
		}
		return nil
	})
	// The log line may reach the test's copy of the output after the metric is read.
	systemtest.Eventually(t, "the token server logs an error about keeping the last good view of "+tenantName, func() error {
		if !logged(t, tokenServer.Output(), "ERROR", "keeping the last good view of tenant", tenantName) {
			return fmt.Errorf("not logged")
		}
		return nil
	})
	acme.keepIssuing(t, "with a corrupted snapshot", 3, 0)

	repaired := func() error {
		sys.Get(t, part)
		if _, err := snapshot.Decode([][]byte{part.Data[snapshot.DataKey]}); err != nil {
			return err
		}
		if !bytes.Equal(part.Data[snapshot.DataKey], good) || part.Annotations[snapshot.AnnotationContentHash] != goodHash {
			return fmt.Errorf("the snapshot decodes but has hash %s, want %s", part.Annotations[snapshot.AnnotationContentHash], goodHash)
		}
		return nil
	}
	controller.Resume(t)
	systemtest.Eventually(t, "the controller writes the snapshot again", repaired)
	acme.mustToken(t, "after the repair")

	// Garbage under the hash the token server has loaded: it does not read those parts
	// again, and the controller, which compares the data itself, repairs them all the same.
	sys.Update(t, part, func() { part.Data[snapshot.DataKey] = []byte(rand.Text()) })
	acme.keepIssuing(t, "with garbage under a loaded hash", 3, 0)
	systemtest.Eventually(t, "the controller repairs garbage under the old hash", repaired)
}

// logged reports whether output holds a JSON log line of level whose message starts with
// msg and whose tenant is tenant.
func logged(t *testing.T, output, level, msg, tenant string) bool {
	t.Helper()
	for line := range strings.Lines(output) {
		var entry struct {
			Level, Msg, Tenant string
		}
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		if entry.Level == level && strings.HasPrefix(entry.Msg, msg) && entry.Tenant == tenant {
			return true
		}
	}
	return false
}
