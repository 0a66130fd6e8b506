/* kvm-smoke: prove KVM works inside the emulated host, without nestvm.
 * Creates a VM with one vCPU in real mode, runs
 *     mov dx, 0x3f8; mov al, 'K'; out dx, al; hlt
 * and checks it sees exactly an I/O exit (out of 'K' to 0x3f8), then a HLT
 * exit. Prints "KVM-SMOKE OK ..." and exits 0, or "KVM-SMOKE FAIL ..." and 1.
 * Built static at test time by payloads/smoke/prepare. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define CODE_GPA 0x1000

static int fail(const char *what)
{
	printf("KVM-SMOKE FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	static const uint8_t code[] = {
		0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
		0xb0, 'K',        /* mov al, 'K' */
		0xee,             /* out dx, al */
		0xf4,             /* hlt */
	};
	double t0 = now();
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		printf("KVM-SMOKE FAIL api version %d\n", api);
		return 1;
	}
	int nested_state = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NESTED_STATE);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");

	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memcpy(mem + CODE_GPA, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (1)");
	if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
	    run->io.port != 0x3f8 || run->io.size != 1 || run->io.count != 1 ||
	    *((uint8_t *)run + run->io.data_offset) != 'K') {
		printf("KVM-SMOKE FAIL first exit: reason %u (want %d: out 'K' to 0x3f8)\n",
		       run->exit_reason, KVM_EXIT_IO);
		return 1;
	}
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (2)");
	if (run->exit_reason != KVM_EXIT_HLT) {
		printf("KVM-SMOKE FAIL second exit: reason %u (want %d: hlt)\n",
		       run->exit_reason, KVM_EXIT_HLT);
		return 1;
	}
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
		return fail("KVM_GET_REGS");
	if (regs.rip != CODE_GPA + sizeof(code)) {
		printf("KVM-SMOKE FAIL rip 0x%llx after hlt (want 0x%zx)\n",
		       (unsigned long long)regs.rip, CODE_GPA + sizeof(code));
		return 1;
	}
	printf("KVM-SMOKE OK io-out 'K' to 0x3f8 then hlt; api %d, nested-state cap %d, %.1f ms\n",
	       api, nested_state, (now() - t0) * 1e3);
	return 0;
}
