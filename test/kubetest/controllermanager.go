package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

const controllerManagerBinary = "kube-controller-manager"

// controllerManagerControllers are the controllers WithControllerManager runs, by their
// names in kube-controller-manager 1.37 (the old names, such as clusterrole-aggregation,
// are aliases). Nothing else: no node, pod or volume controllers, which have nothing to
// act on without kubelets.
var controllerManagerControllers = []string{
	"clusterrole-aggregation-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-token-controller",
}

// serviceAccountSigningKey is the key envtest generates in the API server's certificate
// directory and configures as --service-account-signing-key-file: the token controller
// signs with the same key, so that its tokens authenticate.
const serviceAccountSigningKey = "sa-signer.key"

// controllerManagerReadyTimeout bounds the wait for the first aggregation.
const controllerManagerReadyTimeout = time.Minute

// startControllerManager runs kube-controller-manager as an administrator, without
// leader election or a serving port, and waits until it has filled in the aggregated
// ClusterRole edit.
func (e *Env) startControllerManager(binary string) error {
	signingKey := filepath.Join(e.certDir, serviceAccountSigningKey)
	if _, err := os.Stat(signingKey); err != nil {
		return fmt.Errorf("envtest no longer writes its service account key where expected: %w", err)
	}
	kubeconfig, err := e.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigFile := filepath.Join(e.certDir, "controller-manager.kubeconfig")
	rootCAFile := filepath.Join(e.certDir, "controller-manager-root-ca.crt")
	if err := os.WriteFile(kubeconfigFile, kubeconfig, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(rootCAFile, e.Config.CAData, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(context.Background(), binary, //nolint:gosec // the binary hack/controlplane.sh builds
		"--kubeconfig="+kubeconfigFile,
		"--controllers="+strings.Join(controllerManagerControllers, ","),
		"--service-account-private-key-file="+signingKey,
		"--root-ca-file="+rootCAFile,
		"--leader-elect=false",
		"--secure-port=0",
	)
	proc, err := proctest.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	e.controllerManager = proc
	if err := e.waitAggregated(proc); err != nil {
		return fmt.Errorf("kube-controller-manager: %w\n%s", err, proc.Output())
	}
	return nil
}

// waitAggregated waits until the built-in ClusterRole edit, which the API server creates
// with an aggregation rule and no rules, has the rules of the roles it aggregates.
func (e *Env) waitAggregated(proc *proctest.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), controllerManagerReadyTimeout)
	defer cancel()
	for {
		var edit rbacv1.ClusterRole
		err := e.Client.Get(ctx, client.ObjectKey{Name: "edit"}, &edit)
		if err == nil && len(edit.Rules) > 0 {
			return nil
		}
		if err == nil {
			err = errors.New("it has no rules yet")
		}
		select {
		case <-proc.Exited():
			return errors.New("exited before it aggregated the ClusterRole edit")
		case <-ctx.Done():
			return fmt.Errorf("the ClusterRole edit was not aggregated within %v: %w", controllerManagerReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
