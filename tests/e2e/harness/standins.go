package harness

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// AnnotationKubeletHold on a pod makes the kubelet stand-in leave it alone:
// bound but Pending, no pod IP (a pod whose image is still being pulled).
// Removing the annotation lets the stand-in start it.
const AnnotationKubeletHold = "e2e.sandbox-guard.dev/kubelet-hold"

// standInContext returns a context cancelled by Stop.
func (c *Cluster) standInContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	prev := c.standIns
	c.standIns = func() {
		cancel()
		if prev != nil {
			prev()
		}
	}
	return ctx
}

// startServiceAccountStandIn creates the "default" ServiceAccount in every
// namespace, as kube-controller-manager would; the ServiceAccount admission
// plugin rejects pods in a namespace that lacks it.
func (c *Cluster) startServiceAccountStandIn() {
	ctx := c.standInContext()
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	nsInformer := factory.Core().V1().Namespaces().Informer()
	var mu sync.Mutex
	seen := map[types.UID]bool{}
	ensure := func(obj any) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok || ns.DeletionTimestamp != nil {
			return
		}
		mu.Lock()
		done := seen[ns.UID]
		seen[ns.UID] = true
		mu.Unlock()
		if done {
			return
		}
		c.standInsDone.Add(1)
		go func() {
			defer c.standInsDone.Done()
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
			for i := 0; i < 20 && ctx.Err() == nil; i++ {
				_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{})
				if err == nil || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	_, _ = nsInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ensure,
		UpdateFunc: func(_, obj any) { ensure(obj) },
	})
	factory.Start(ctx.Done())
	c.standInsDone.Add(1)
	go func() {
		defer c.standInsDone.Done()
		<-ctx.Done()
		factory.Shutdown()
	}()
}

// kubeletStandIn plays the kubelet for every node: a pod bound to a node is
// marked Running and Ready with a pod IP from the node's pod CIDR, and a
// bound pod being deleted gracefully is removed with grace period 0 (the
// kubelet's final delete). Nothing runs; no container image is pulled.
type kubeletStandIn struct {
	c       *Cluster
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	queue   workqueue.TypedRateLimitingInterface[string]
	log     *log.Logger
	logFile *os.File

	mu     sync.Mutex
	nextIP map[string]int
}

const kubeletWorkers = 4

func (c *Cluster) startKubeletStandIn() error {
	f, err := os.OpenFile(filepath.Join(c.LogDir, "kubelet-standin.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	ctx := c.standInContext()
	k := &kubeletStandIn{
		c:       c,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		log:     log.New(f, "", log.LstdFlags|log.Lmicroseconds),
		logFile: f,
		nextIP:  map[string]int{},
	}
	c.kubelet = k
	podFactory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }))
	nodeFactory := informers.NewSharedInformerFactory(c.Client, 0)
	podInf := podFactory.Core().V1().Pods()
	nodeInf := nodeFactory.Core().V1().Nodes()
	k.pods = podInf.Lister()
	k.nodes = nodeInf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			node, ok := obj.(*corev1.Node)
			if !ok {
				return
			}
			pods, _ := k.pods.List(everything)
			for _, p := range pods {
				if p.Spec.NodeName == node.Name {
					enqueue(p)
				}
			}
		},
	})
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), podInf.Informer().HasSynced, nodeInf.Informer().HasSynced) {
		return fmt.Errorf("kubelet stand-in: informer caches did not sync")
	}
	for i := 0; i < kubeletWorkers; i++ {
		c.standInsDone.Add(1)
		go func() {
			defer c.standInsDone.Done()
			for k.processNext(ctx) {
			}
		}()
	}
	c.standInsDone.Add(1)
	go func() {
		defer c.standInsDone.Done()
		<-ctx.Done()
		k.queue.ShutDown()
		podFactory.Shutdown()
		nodeFactory.Shutdown()
		k.logFile.Close()
	}()
	return nil
}

func (k *kubeletStandIn) processNext(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	if err := k.sync(ctx, key); err != nil {
		if ctx.Err() != nil {
			return true
		}
		k.log.Printf("%s: %v (retrying)", key, err)
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

func (k *kubeletStandIn) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := k.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return nil
	}
	// A real kubelet runs this node's pods (StartRealNode).
	if node, err := k.nodes.Get(pod.Spec.NodeName); err == nil && node.Labels[LabelRealNode] == "true" {
		return nil
	}
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		uid := pod.UID
		err := k.c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
		k.log.Printf("%s: deleted (terminated on %s)", key, pod.Spec.NodeName)
		return nil
	}
	if _, hold := pod.Annotations[AnnotationKubeletHold]; hold {
		return nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || isRunningReady(pod) {
		return nil
	}
	node, err := k.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // no such node, no kubelet: the pod stays Pending
	}
	if err != nil {
		return err
	}
	updated := pod.DeepCopy()
	k.setRunning(updated, node)
	if _, err := k.c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	k.log.Printf("%s: Running/Ready on %s, podIP %s", key, node.Name, updated.Status.PodIP)
	return nil
}

func isRunningReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (k *kubeletStandIn) setRunning(pod *corev1.Pod, node *corev1.Node) {
	now := metav1.Now()
	st := &pod.Status
	st.Phase = corev1.PodRunning
	st.ObservedGeneration = pod.Generation
	if st.StartTime == nil {
		st.StartTime = &now
	}
	hostIP := nodeInternalIP(node)
	if hostIP != "" {
		st.HostIP = hostIP
		st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	}
	if st.PodIP == "" {
		ip := k.allocateIP(node)
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		setPodCondition(st, corev1.PodCondition{
			Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now, ObservedGeneration: pod.Generation,
		})
	}
	st.InitContainerStatuses = nil
	for _, ctr := range pod.Spec.InitContainers {
		cs := containerStatus(pod, ctr, now)
		if ctr.RestartPolicy == nil || *ctr.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			cs.Ready = false
			started := false
			cs.Started = &started
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID,
			}}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for _, ctr := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(pod, ctr, now))
	}
}

func containerStatus(pod *corev1.Pod, ctr corev1.Container, now metav1.Time) corev1.ContainerStatus {
	id := sha256.Sum256([]byte(string(pod.UID) + "/" + ctr.Name))
	img := sha256.Sum256([]byte(ctr.Image))
	started := true
	return corev1.ContainerStatus{
		Name:        ctr.Name,
		Image:       ctr.Image,
		ImageID:     ctr.Image + "@sha256:" + hex.EncodeToString(img[:]),
		ContainerID: "containerd://" + hex.EncodeToString(id[:]),
		Ready:       true,
		Started:     &started,
		State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}
}

func setPodCondition(st *corev1.PodStatus, cond corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == cond.Type {
			if st.Conditions[i].Status == cond.Status {
				st.Conditions[i].ObservedGeneration = cond.ObservedGeneration
				return
			}
			st.Conditions[i] = cond
			return
		}
	}
	st.Conditions = append(st.Conditions, cond)
}

func nodeInternalIP(node *corev1.Node) string {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// allocateIP hands out addresses from the node's pod CIDR (a /24), or from
// 10.244.<hash of node name>.0/24 when the node has none. Addresses are
// never dialled: they are only data in pod status.
func (k *kubeletStandIn) allocateIP(node *corev1.Node) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	base := net.IPv4(10, 244, byte(fnv32(node.Name)), 0).To4()
	if _, cidr, err := net.ParseCIDR(node.Spec.PodCIDR); err == nil && cidr.IP.To4() != nil {
		base = cidr.IP.To4()
	}
	n := k.nextIP[node.Name]
	if n < 2 || n > 254 {
		n = 2
	}
	k.nextIP[node.Name] = n + 1
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(base)|uint32(n))
	return ip.String()
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
