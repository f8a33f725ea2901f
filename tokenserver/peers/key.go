package peers

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// WatchKey keeps the peer key of Counters up to date from the Secret
// snapshot.PeerKeySecretName of namespace until ctx ends. A deleted Secret leaves the
// last key in use until the controller writes a new one.
func WatchKey(ctx context.Context, client kubernetes.Interface, namespace string, c *Counters, log *slog.Logger) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + snapshot.PeerKeySecretName }))
	setKey := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		if c.SetKey(s.Data[snapshot.PeerKeyDataKey]) {
			log.Info("peer key loaded", "secret", namespace+"/"+snapshot.PeerKeySecretName)
		} else {
			log.Error("peer key Secret holds no usable key", "secret", namespace+"/"+snapshot.PeerKeySecretName, "minLength", snapshot.MinPeerKeyLength)
		}
	}
	if _, err := factory.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: setKey, UpdateFunc: func(_, obj any) { setKey(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}
