/* virtio-net (virtio 1.x, section 5.1): a receive queue (0) and a transmit
 * queue (1), no control queue, no offloads, no mergeable receive buffers
 * (the guest posts buffers big enough for a whole frame and its 12-byte
 * header). Device configuration: the MAC and the link status (always up).
 *
 * Threads:
 *  - The I/O thread (evloop) runs the queues: transmit kicks, receive kicks
 *    (the guest posted buffers), the rx eventfd (a backend queued frames)
 *    and, with tap, the tap fd. All receive-queue work holds queue 0's lock,
 *    all transmit work queue 1's.
 *  - user (libslirp) has its own thread: libslirp is not thread safe, so
 *    every slirp call after slirp_new() happens there. It poll()s slirp's
 *    sockets and an eventfd; the I/O thread hands it transmitted frames
 *    through a bounded queue (tx_fq) and that eventfd; frames slirp sends to
 *    the guest go into the bounded rx queue (rx_fq) and the rx eventfd wakes
 *    the I/O thread.
 *  - tap is driven by the I/O thread alone: frames are written with
 *    write(2) on a non-blocking fd (dropped on EAGAIN) and read when the fd
 *    is readable.
 * Frames beyond a full queue are dropped (and counted): TCP recovers.
 */
#include "virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lazy/slirp_lazy.h"

#include "virtio/net_frame.h"
#include "vmm/device.h"
#include "vmm/log.h"
#include "vmm/thread.h"

#define NET_QUEUE_SIZE     256
#define NET_RXQ            0
#define NET_TXQ            1

#define VIRTIO_NET_F_MAC      (1ULL << 5)
#define VIRTIO_NET_F_STATUS   (1ULL << 16)
#define VIRTIO_NET_S_LINK_UP  1
#define NET_CONFIG_LEN        VIRTIO_NET_CONFIG_LEN

#define NET_TAP_BURST         64       /* frames read from tap per wake-up */
#define NET_SLIRP_MAX_WAIT_MS 1000

struct net_timer {
	void (*cb)(void *opaque);
	void *cb_opaque;
	int64_t expire_ms;       /* -1: not armed */
	struct net_timer *next;
};

struct virtio_net {
	struct virtio_pci vp;
	struct net_config cfg;
	uint8_t config[NET_CONFIG_LEN];
	char ifname[IFNAMSIZ];   /* tap: the interface's name */

	/* Frames for the guest. rx_lock guards rx_fq; the I/O thread alone
	 * takes frames out (holding queue 0's lock). */
	pthread_mutex_t rx_lock;
	struct net_fq rx_fq;
	int rx_efd;              /* a backend queued frames */
	struct vq_req rx_req;    /* under queue 0's lock */
	struct vq_req tx_req;    /* under queue 1's lock */
	uint8_t tx_buf[NET_MAX_FRAME];

	/* tap */
	int tap_fd;
	uint8_t *tap_buf;        /* NET_MAX_FRAME bytes, I/O thread */

	/* user: libslirp and its thread */
	Slirp *slirp;
	pthread_t slirp_thread;
	bool slirp_started;
	atomic_bool slirp_stop;
	int slirp_efd;           /* wakes the slirp thread */
	/* quiesce: the slirp thread parks at the top of its loop (between two
	 * whole rounds: every frame it took is handed over) until resume. */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	bool park_req;           /* under park_lock */
	bool parked;             /* under park_lock */
	pthread_mutex_t tx_lock; /* guards tx_fq */
	struct net_fq tx_fq;     /* frames for slirp */
	struct pollfd *pfd;      /* slirp thread only */
	unsigned int npfd, pfd_cap;
	struct net_timer *timers;

	/* statistics */
	atomic_uint_fast64_t tx_frames, tx_bytes, rx_frames, rx_bytes;
	atomic_uint_fast64_t drop_spoofed, drop_other;
};

static void net_count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t net_get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void net_drain(int efd)
{
	uint64_t n;

	if (read(efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-net: eventfd read: %s", strerror(errno));
}

/* A frame for the guest, from any thread. */
static void net_rx_enqueue(struct virtio_net *net, const uint8_t *frame, uint32_t len)
{
	int r;

	pthread_mutex_lock(&net->rx_lock);
	r = net_fq_push(&net->rx_fq, frame, len);
	pthread_mutex_unlock(&net->rx_lock);
	if (r)
		net_count(&net->drop_other, 1);
}

/* ---- the receive queue (I/O thread) ---- */

/* Move queued frames into the guest's receive buffers while both last.
 * Called with queue 0's lock held. */
static void net_rx_deliver_locked(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vp.queues[NET_RXQ].vq;
	bool pushed = false;

	if (!virtio_pci_queue_live(&net->vp, NET_RXQ))
		return;
	for (;;) {
		const struct net_frame *f;
		struct net_frame taken;
		uint32_t written = 0;
		int r;

		/* Only this thread takes frames out, so f stays valid. */
		pthread_mutex_lock(&net->rx_lock);
		f = net_fq_peek(&net->rx_fq);
		pthread_mutex_unlock(&net->rx_lock);
		if (!f)
			break;
		r = vq_pop(vq, &net->rx_req);
		if (r == 0)
			break;  /* no buffers: the guest kicks queue 0 when it posts some */
		if (r == -EIO) {
			virtio_pci_needs_reset(&net->vp);
			break;
		}
		pushed = true;
		if (r < 0) {     /* a malformed buffer: hand it back empty, keep the frame */
			vq_push(vq, net->rx_req.head, 0);
			continue;
		}
		if (net_rx_fill(&net->rx_req, f->data, f->len, &written) == 0) {
			net_count(&net->rx_frames, 1);
			net_count(&net->rx_bytes, f->len);
		} else {
			net_count(&net->drop_other, 1);  /* buffer too small for it */
			written = 0;
		}
		vq_push(vq, net->rx_req.head, written);
		pthread_mutex_lock(&net->rx_lock);
		if (net_fq_pop(&net->rx_fq, &taken))
			free(taken.data);
		pthread_mutex_unlock(&net->rx_lock);
	}
	if (pushed)
		virtio_pci_queue_done(&net->vp, NET_RXQ);
}

static void net_rx_deliver(struct virtio_net *net)
{
	struct virtio_pci_queue *q = &net->vp.queues[NET_RXQ];

	pthread_mutex_lock(&q->lock);
	net_rx_deliver_locked(net);
	pthread_mutex_unlock(&q->lock);
}

static void net_rx_efd_ready(void *opaque, int fd)
{
	struct virtio_net *net = opaque;

	net_drain(fd);
	net_rx_deliver(net);
}

/* ---- the transmit queue (I/O thread) ---- */

static void net_backend_send(struct virtio_net *net, const uint8_t *frame, uint32_t len)
{
	if (net->cfg.backend == NET_BACKEND_TAP) {
		ssize_t n = write(net->tap_fd, frame, len);

		if (n != (ssize_t)len) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				log_debug("virtio-net: write to %s: %s", net->ifname,
					  strerror(errno));
			net_count(&net->drop_other, 1);
			return;
		}
	} else {
		int r;

		pthread_mutex_lock(&net->tx_lock);
		r = net_fq_push(&net->tx_fq, frame, len);
		pthread_mutex_unlock(&net->tx_lock);
		if (r) {
			net_count(&net->drop_other, 1);
			return;
		}
		evloop_signal_fd(net->slirp_efd);
	}
	net_count(&net->tx_frames, 1);
	net_count(&net->tx_bytes, len);
}

static void net_tx(struct virtio_net *net, struct virtio_pci *vp)
{
	struct virtqueue *vq = &vp->queues[NET_TXQ].vq;
	bool pushed = false;
	int r;

	while ((r = vq_pop(vq, &net->tx_req)) != 0) {
		uint32_t len;

		if (r == -EIO) {
			virtio_pci_needs_reset(vp);
			break;
		}
		if (r == 1 && net_tx_extract(&net->tx_req, net->tx_buf, sizeof(net->tx_buf),
					     &len) == 0) {
			if (net_mac_allowed(&net->cfg, net->tx_buf, len))
				net_backend_send(net, net->tx_buf, len);
			else
				net_count(&net->drop_spoofed, 1);
		} else {
			net_count(&net->drop_other, 1);
		}
		vq_push(vq, net->tx_req.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_pci_queue_done(vp, NET_TXQ);
}

/* ---- transport callbacks ---- */

static void net_queue_notify(void *dev, struct virtio_pci *vp, unsigned int q)
{
	struct virtio_net *net = dev;

	if (q == NET_RXQ)
		net_rx_deliver_locked(net);  /* the guest posted receive buffers */
	else if (q == NET_TXQ)
		net_tx(net, vp);
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *net = dev;

	/* The transport checked off + len <= NET_CONFIG_LEN. */
	memcpy(data, net->config + off, len);
}

static void net_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	/* Read-only with VERSION_1 (the MAC changes only through a control
	 * queue, which this device lacks). */
	(void)dev; (void)off; (void)data; (void)len;
}

static void net_reset(void *dev)
{
	struct virtio_net *net = dev;
	struct virtio_pci_queue *q = &net->vp.queues[NET_RXQ];

	/* Frames queued for the old driver are stale. */
	pthread_mutex_lock(&q->lock);
	pthread_mutex_lock(&net->rx_lock);
	net_fq_clear(&net->rx_fq);
	pthread_mutex_unlock(&net->rx_lock);
	pthread_mutex_unlock(&q->lock);
}

static const struct virtio_device_ops net_ops = {
	.name = "virtio-net",
	.device_id = 1,
	.class_code = 0x020000,
	.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_F_RING_EVENT_IDX |
		    VIRTIO_F_RING_INDIRECT_DESC,
	.num_queues = 2,
	.queue_max = NET_QUEUE_SIZE,
	.config_len = NET_CONFIG_LEN,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
};

/* ---- tap backend ---- */

static void net_tap_readable(void *opaque, int fd)
{
	struct virtio_net *net = opaque;
	bool queued = false;

	for (int i = 0; i < NET_TAP_BURST; i++) {
		ssize_t n = read(fd, net->tap_buf, NET_MAX_FRAME);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_debug("virtio-net: read from %s: %s", net->ifname,
					  strerror(errno));
			break;
		}
		if (n == 0)
			break;
		net_rx_enqueue(net, net->tap_buf, (uint32_t)n);
		queued = true;
	}
	if (queued)
		net_rx_deliver(net);
}

/* Bring the interface up if we may; otherwise that is the user's job
 * (ip link set NAME up), as is putting it on a bridge. */
static void net_tap_up(struct virtio_net *net)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, net->ifname, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			log_info("virtio-net: %s is down and nestvm may not bring it up (%s): "
				 "ip link set %s up", net->ifname, strerror(errno), net->ifname);
	}
	close(s);
}

/* Errors that come from the user's set-up (no tun module, no permission, a
 * busy device) as the codes cmd_run reports as such (exit status 1). */
static int net_user_errno(int e)
{
	switch (e) {
	case ENOENT: case ENODEV: case ENXIO: return -ENOENT;
	case EACCES: case EPERM: return -EACCES;
	case EBUSY: return -EINVAL;
	default: return -e;
	}
}

static int net_tap_open(struct virtio_net *net, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, e;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			snprintf(err, errlen, "--nic tap: /dev/net/tun is missing: load the tun "
				 "module (modprobe tun)");
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "--nic tap: cannot open /dev/net/tun: %s (it needs "
				 "read-write access to /dev/net/tun)", strerror(e));
		else
			snprintf(err, errlen, "--nic tap: cannot open /dev/net/tun: %s",
				 strerror(e));
		return net_user_errno(e);
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (net->cfg.tap_name[0])
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", net->cfg.tap_name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		const char *name = net->cfg.tap_name[0] ? net->cfg.tap_name : "(new)";

		e = errno;
		if (e == EPERM || e == EACCES)
			snprintf(err, errlen, "--nic tap: cannot attach tap %s: %s: creating a tap "
				 "device needs CAP_NET_ADMIN; or create it beforehand as root "
				 "(ip tuntap add NAME mode tap user $USER) and name it "
				 "(--nic tap:NAME)", name, strerror(e));
		else if (e == EBUSY)
			snprintf(err, errlen, "--nic tap: tap %s is in use by another process "
				 "(or is a tun device, not tap)", name);
		else
			snprintf(err, errlen, "--nic tap: TUNSETIFF %s: %s", name, strerror(e));
		close(fd);
		return net_user_errno(e);
	}
	memcpy(net->ifname, ifr.ifr_name, IFNAMSIZ);
	net->ifname[IFNAMSIZ - 1] = '\0';
	net->tap_fd = fd;
	net->tap_buf = malloc(NET_MAX_FRAME);
	if (!net->tap_buf) {
		snprintf(err, errlen, "virtio-net: out of memory");
		return -ENOMEM;
	}
	net_tap_up(net);
	log_info("virtio-net: attached to tap %s", net->ifname);
	return 0;
}

/* ---- user backend: libslirp on its own thread ---- */

static int64_t net_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static ssize_t net_slirp_send_packet(const void *buf, size_t len, void *opaque)
{
	struct virtio_net *net = opaque;

	if (len > NET_MAX_FRAME) {
		net_count(&net->drop_other, 1);
		return (ssize_t)len;
	}
	net_rx_enqueue(net, buf, (uint32_t)len);
	evloop_signal_fd(net->rx_efd);
	return (ssize_t)len;
}

static void net_slirp_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_debug("virtio-net: slirp: guest error: %s", msg);
}

static int64_t net_slirp_clock_get_ns(void *opaque)
{
	(void)opaque;
	return net_clock_ns();
}

static void *net_slirp_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct virtio_net *net = opaque;
	struct net_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = net->timers;
	net->timers = t;
	return t;
}

static void net_slirp_timer_free(void *timer, void *opaque)
{
	struct virtio_net *net = opaque;

	for (struct net_timer **pp = &net->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			free(timer);
			return;
		}
	}
}

static void net_slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct net_timer *t = timer;

	(void)opaque;
	if (t)
		t->expire_ms = expire_ms;
}

static void net_slirp_register_poll_fd(int fd, void *opaque)
{
	(void)fd; (void)opaque;  /* the thread polls what slirp_pollfds_fill lists */
}

static void net_slirp_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd; (void)opaque;
}

static void net_slirp_notify(void *opaque)
{
	struct virtio_net *net = opaque;

	evloop_signal_fd(net->slirp_efd);
}

static const SlirpCb net_slirp_cb = {
	.send_packet = net_slirp_send_packet,
	.guest_error = net_slirp_guest_error,
	.clock_get_ns = net_slirp_clock_get_ns,
	.timer_new = net_slirp_timer_new,
	.timer_free = net_slirp_timer_free,
	.timer_mod = net_slirp_timer_mod,
	.register_poll_fd = net_slirp_register_poll_fd,
	.unregister_poll_fd = net_slirp_unregister_poll_fd,
	.notify = net_slirp_notify,
};

static int net_slirp_add_poll(int fd, int events, void *opaque)
{
	struct virtio_net *net = opaque;
	short ev = 0;

	if (net->npfd == net->pfd_cap) {
		unsigned int cap = net->pfd_cap ? 2 * net->pfd_cap : 32;
		struct pollfd *p = realloc(net->pfd, cap * sizeof(*p));

		if (!p)
			return -1;  /* slirp then treats the socket as not ready */
		net->pfd = p;
		net->pfd_cap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	net->pfd[net->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)net->npfd++;
}

static int net_slirp_get_revents(int idx, void *opaque)
{
	struct virtio_net *net = opaque;
	short rev;
	int r = 0;

	if (idx < 0 || (unsigned int)idx >= net->npfd)
		return 0;
	rev = net->pfd[idx].revents;
	if (rev & POLLIN)
		r |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		r |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		r |= SLIRP_POLL_PRI;
	if (rev & POLLERR)
		r |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		r |= SLIRP_POLL_HUP;
	return r;
}

/* Milliseconds to the earliest armed timer, capped at `limit`. */
static uint32_t net_timers_wait(struct virtio_net *net, uint32_t limit)
{
	int64_t now = net_clock_ns() / 1000000;

	for (struct net_timer *t = net->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		if (t->expire_ms <= now)
			return 0;
		if ((uint64_t)(t->expire_ms - now) < limit)
			limit = (uint32_t)(t->expire_ms - now);
	}
	return limit;
}

static void net_timers_run(struct virtio_net *net)
{
	int64_t now = net_clock_ns() / 1000000;
	bool again = true;

	/* A callback may re-arm or free timers: restart the walk after each. */
	while (again) {
		again = false;
		for (struct net_timer *t = net->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
				again = true;
				break;
			}
		}
	}
}

/* Park here while a quiesce asks for it (slirp thread). */
static void net_slirp_park_point(struct virtio_net *net)
{
	pthread_mutex_lock(&net->park_lock);
	if (net->park_req) {
		net->parked = true;
		pthread_cond_broadcast(&net->park_cond);
		while (net->park_req && !atomic_load(&net->slirp_stop))
			pthread_cond_wait(&net->park_cond, &net->park_lock);
		net->parked = false;
	}
	pthread_mutex_unlock(&net->park_lock);
}

static void *net_slirp_main(void *arg)
{
	struct virtio_net *net = arg;

	while (!atomic_load(&net->slirp_stop)) {
		uint32_t timeout = UINT32_MAX;
		struct net_frame f;
		int n;

		net_slirp_park_point(net);
		if (atomic_load(&net->slirp_stop))
			break;

		net->npfd = 0;
		net_slirp_add_poll(net->slirp_efd, SLIRP_POLL_IN, net);
		slirp_pollfds_fill(net->slirp, &timeout, net_slirp_add_poll, net);
		if (timeout > NET_SLIRP_MAX_WAIT_MS)
			timeout = NET_SLIRP_MAX_WAIT_MS;
		timeout = net_timers_wait(net, timeout);
		n = poll(net->pfd, net->npfd, (int)timeout);
		if (atomic_load(&net->slirp_stop))
			break;
		slirp_pollfds_poll(net->slirp, n < 0, net_slirp_get_revents, net);
		if (n > 0 && (net->pfd[0].revents & POLLIN))
			net_drain(net->slirp_efd);
		/* Frames the guest sent. The lock is not held across slirp_input(),
		 * which may call send_packet. */
		for (;;) {
			bool got;

			pthread_mutex_lock(&net->tx_lock);
			got = net_fq_pop(&net->tx_fq, &f);
			pthread_mutex_unlock(&net->tx_lock);
			if (!got)
				break;
			slirp_input(net->slirp, f.data, (int)f.len);
			free(f.data);
		}
		net_timers_run(net);
	}
	return NULL;
}

static struct in_addr net_ip(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a;
}

static int net_slirp_open(struct virtio_net *net, char *err, size_t errlen)
{
	SlirpConfig sc;
	int r = slirp_lazy_load(err, errlen);

	if (r)
		return r;
	memset(&sc, 0, sizeof(sc));
	sc.version = 3;          /* up to disable_dns; timers through timer_new */
	sc.restricted = 0;
	sc.in_enabled = true;
	sc.vnetwork = net_ip("10.0.2.0");
	sc.vnetmask = net_ip("255.255.255.0");
	sc.vhost = net_ip("10.0.2.2");          /* reaches the host's 127.0.0.1 */
	sc.vdhcp_start = net_ip("10.0.2.15");
	sc.vnameserver = net_ip("10.0.2.3");
	sc.in6_enabled = false;
	sc.disable_host_loopback = false;
	sc.enable_emu = false;
	net->slirp = slirp_new(&sc, &net_slirp_cb, net);
	if (!net->slirp) {
		snprintf(err, errlen, "--nic user: cannot start libslirp");
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < net->cfg.n_forwards && i < NET_MAX_FORWARDS; i++) {
		const struct net_forward *fw = &net->cfg.forwards[i];

		errno = 0;
		if (slirp_add_hostfwd(net->slirp, 0, net_ip("127.0.0.1"), fw->host_port,
				      net_ip("10.0.2.15"), fw->guest_port) < 0) {
			int e = errno ? errno : EADDRINUSE;

			snprintf(err, errlen, "--forward tcp:%u:%u: cannot listen on "
				 "127.0.0.1:%u: %s (is the port already in use?)",
				 fw->host_port, fw->guest_port, fw->host_port, strerror(e));
			return -EINVAL;  /* the user's choice of port: exit status 1 */
		}
		log_info("virtio-net: forwarding 127.0.0.1:%u to the guest's port %u",
			 fw->host_port, fw->guest_port);
	}
	return 0;
}

/* ---- life cycle ---- */

static void net_free(struct virtio_net *net)
{
	if (net->slirp_started) {
		atomic_store(&net->slirp_stop, true);
		pthread_mutex_lock(&net->park_lock);   /* a parked thread wakes too */
		pthread_cond_broadcast(&net->park_cond);
		pthread_mutex_unlock(&net->park_lock);
		evloop_signal_fd(net->slirp_efd);
		pthread_join(net->slirp_thread, NULL);
	}
	/* The slirp thread is gone: this thread may call slirp now. */
	if (net->slirp)
		slirp_cleanup(net->slirp);
	while (net->timers) {   /* slirp_cleanup() frees its timers; just in case */
		struct net_timer *t = net->timers;
		net->timers = t->next;
		free(t);
	}
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	if (net->rx_efd >= 0)
		close(net->rx_efd);
	if (net->slirp_efd >= 0)
		close(net->slirp_efd);
	net_fq_clear(&net->rx_fq);
	net_fq_clear(&net->tx_fq);
	pthread_mutex_destroy(&net->rx_lock);
	pthread_mutex_destroy(&net->tx_lock);
	pthread_mutex_destroy(&net->park_lock);
	pthread_cond_destroy(&net->park_cond);
	free(net->pfd);
	free(net->tap_buf);
	free(net);
}

int virtio_net_create(struct virtio_net **out, const struct net_config *cfg,
		      const struct device_host *h, char *err, size_t errlen)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int r;

	*out = NULL;
	if (!net) {
		snprintf(err, errlen, "virtio-net: out of memory");
		return -ENOMEM;
	}
	net->cfg = *cfg;
	net->tap_fd = net->rx_efd = net->slirp_efd = -1;
	pthread_mutex_init(&net->rx_lock, NULL);
	pthread_mutex_init(&net->tx_lock, NULL);
	pthread_mutex_init(&net->park_lock, NULL);
	pthread_cond_init(&net->park_cond, NULL);
	net_fq_init(&net->rx_fq);
	net_fq_init(&net->tx_fq);
	atomic_init(&net->slirp_stop, false);
	memcpy(net->config, cfg->mac, 6);
	net->config[6] = VIRTIO_NET_S_LINK_UP;
	net->config[7] = 0;

	/* The backend first: its errors are the user's (busy port, no tap), and
	 * until virtio_pci_init() nothing else refers to this device. */
	net->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (net->rx_efd < 0) {
		r = -errno;
		snprintf(err, errlen, "virtio-net: eventfd: %s", strerror(-r));
		goto fail;
	}
	if (cfg->backend == NET_BACKEND_TAP) {
		r = net_tap_open(net, err, errlen);
		if (r)
			goto fail;
		r = evloop_add(h->loop, net->tap_fd, net_tap_readable, net);
	} else {
		net->slirp_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (net->slirp_efd < 0) {
			r = -errno;
			snprintf(err, errlen, "virtio-net: eventfd: %s", strerror(-r));
			goto fail;
		}
		r = net_slirp_open(net, err, errlen);
		if (r)
			goto fail;
		r = 0;
	}
	if (r == 0)
		r = evloop_add(h->loop, net->rx_efd, net_rx_efd_ready, net);
	if (r) {
		snprintf(err, errlen, "virtio-net: cannot register with the I/O loop: %s",
			 strerror(-r));
		goto fail;
	}
	r = virtio_pci_init(&net->vp, h, &net_ops, net);
	if (r) {
		snprintf(err, errlen, "cannot create virtio-net: %s", strerror(-r));
		goto fail;
	}
	if (net->slirp) {
		sigset_t all, old;

		/* The thread takes no signals: vm_run() reads the terminating
		 * ones from a signalfd, which needs them blocked everywhere. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = -vmm_thread_create(&net->slirp_thread, net_slirp_main, net);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r) {
			/* The PCI function is on the bus now: keep the device (it
			 * works, minus its backend) and let the caller tear down. */
			snprintf(err, errlen, "virtio-net: cannot start the slirp thread: %s",
				 strerror(-r));
			*out = net;
			return r;
		}
		net->slirp_started = true;
	}
	*out = net;
	return 0;
fail:
	net_free(net);
	return r;
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	log_info("virtio-net %02x:%02x:%02x:%02x:%02x:%02x: tx %llu frames %llu bytes, "
		 "rx %llu frames %llu bytes, dropped %llu spoofed %llu other",
		 net->cfg.mac[0], net->cfg.mac[1], net->cfg.mac[2], net->cfg.mac[3],
		 net->cfg.mac[4], net->cfg.mac[5],
		 (unsigned long long)net_get(&net->tx_frames),
		 (unsigned long long)net_get(&net->tx_bytes),
		 (unsigned long long)net_get(&net->rx_frames),
		 (unsigned long long)net_get(&net->rx_bytes),
		 (unsigned long long)net_get(&net->drop_spoofed),
		 (unsigned long long)net_get(&net->drop_other));
	net_free(net);
}

/* ---- quiesce and device state (src/vmm/device.h) ---- */

static void net_quiesce(void *dev)
{
	struct virtio_net *net = dev;

	if (!net->slirp_started)
		return;   /* tap: the I/O loop serves it, and the machine parks that */
	pthread_mutex_lock(&net->park_lock);
	net->park_req = true;
	evloop_signal_fd(net->slirp_efd);   /* out of poll() */
	while (!net->parked)
		pthread_cond_wait(&net->park_cond, &net->park_lock);
	pthread_mutex_unlock(&net->park_lock);
}

static void net_resume(void *dev)
{
	struct virtio_net *net = dev;

	pthread_mutex_lock(&net->park_lock);
	net->park_req = false;
	pthread_cond_broadcast(&net->park_cond);
	pthread_mutex_unlock(&net->park_lock);
}

struct virtio_pci *virtio_net_pci(struct virtio_net *net)
{
	return &net->vp;
}

bool virtio_net_backend_parked(struct virtio_net *net)
{
	bool parked;

	if (!net->slirp_started)
		return true;
	pthread_mutex_lock(&net->park_lock);
	parked = net->parked;
	pthread_mutex_unlock(&net->park_lock);
	return parked;
}

static void net_save(void *dev, void *state)
{
	struct virtio_net *net = dev;
	struct virtio_net_state *st = state;

	memset(st, 0, sizeof(*st));
	virtio_pci_save(&net->vp, &st->vp);
	memcpy(st->config, net->config, sizeof(st->config));
}

static int net_restore(void *dev, const void *state, size_t size, uint32_t version, char *err,
		       size_t errlen)
{
	struct virtio_net *net = dev;
	const struct virtio_net_state *st = state;
	const uint8_t *m = st->config;
	int r = device_state_check_header(&virtio_net_class, size, version, err, errlen);

	if (r)
		return r;
	if (memcmp(st->config, net->config, 6)) {
		snprintf(err, errlen, "virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x in the state is "
			 "not this NIC's %02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5], net->config[0], net->config[1], net->config[2],
			 net->config[3], net->config[4], net->config[5]);
		return -EINVAL;
	}
	if (memcmp(st->config + 6, net->config + 6, 2)) {
		snprintf(err, errlen, "virtio-net: link status 0x%02x%02x in the state, the link "
			 "is 0x%02x%02x (always up)", m[7], m[6], net->config[7], net->config[6]);
		return -EINVAL;
	}
	r = virtio_pci_check(&net->vp, &st->vp, err, errlen);
	if (r)
		return r;
	virtio_pci_load(&net->vp, &st->vp);
	return 0;
}

/* ---- the device class ---- */

static const char *const net_modifiers[] = { "mac", "mac-spoofing", "allow-mac", "forward",
					     NULL };

static int net_create(const struct device_host *h, const json_t *cfg, void **dev, char *err,
		      size_t errlen)
{
	struct virtio_net *net = NULL;
	struct net_config nc;
	int r;

	*dev = NULL;
	r = net_config_from_json(cfg, &nc, err, errlen);
	if (!r)
		r = virtio_net_create(&net, &nc, h, err, errlen);
	*dev = net;
	return r;
}

static void net_destroy(void *dev)
{
	virtio_net_destroy(dev);
}

const struct device_class virtio_net_class = {
	.name = "virtio-net",
	.quiesce = net_quiesce,
	.resume = net_resume,
	.state_version = VIRTIO_NET_STATE_VERSION,
	.state_size = sizeof(struct virtio_net_state),
	.save = net_save,
	.restore = net_restore,
	.cli_option = "nic",
	.cli_help = "      --nic user|tap[:NAME]  a virtio-net NIC: user-mode NAT (libslirp, the\n"
		    "                       default) or a tap device (repeatable); the options\n"
		    "                       below apply to the NIC named before them:\n"
		    "      --mac MAC        its MAC address (default 02:4e:56:00:00:0N)\n"
		    "      --forward tcp:HOSTPORT:GUESTPORT   forward a host port (user NAT)\n"
		    "      --mac-spoofing on|off   let the guest send from other MACs (off)\n"
		    "      --allow-mac MAC  admit one more source MAC, spoofing still off\n",
	.cli_modifiers = net_modifiers,
	.cli_default_arg = "user",
	.json_key = "nics",
	.max_count = 4,
	.config_parse = net_config_parse,
	.config_modify = net_config_modify,
	.config_check = net_config_check,
	.config_default = net_config_default,
	.create = net_create,
	.destroy = net_destroy,
};
