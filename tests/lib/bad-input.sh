# Bad input to `nestvm run`: each case must get a clear message and a
# non-zero exit, never a crash. Sourced after t.sh; needs NESTVM (the
# binary), KERNEL (a real bzImage) and WORK (a scratch directory).
# Every case fails before KVM is opened, so it runs with or without KVM.
bad_input_cases() {
	mkdir -p "$WORK"
	head -c 2000000 "$KERNEL" >"$WORK/truncated"
	head -c 65536 /dev/urandom >"$WORK/garbage"
	: >"$WORK/empty"
	dd if=/dev/zero of="$WORK/big-initrd" bs=1M count=0 seek=100 2>/dev/null
	long=$(head -c 6000 /dev/zero | tr '\0' 'x')

	t_case bad-no-kernel-option 1 'kernel PATH is required' -- "$NESTVM" run
	t_case bad-kernel-missing 1 'cannot open kernel .*No such file' -- \
		"$NESTVM" run --kernel "$WORK/nonexistent"
	t_case bad-kernel-directory 1 'not a regular file' -- "$NESTVM" run --kernel "$WORK"
	t_case bad-kernel-empty 1 'is empty' -- "$NESTVM" run --kernel "$WORK/empty"
	t_case bad-kernel-garbage 1 'is not a Linux bzImage' -- "$NESTVM" run --kernel "$WORK/garbage"
	t_case bad-kernel-truncated 1 'is truncated' -- "$NESTVM" run --kernel "$WORK/truncated"
	t_case bad-kernel-elf 1 'is an ELF file' -- "$NESTVM" run --kernel "$NESTVM"
	t_case bad-initrd-missing 1 'cannot open initrd' -- \
		"$NESTVM" run --kernel "$KERNEL" --initrd "$WORK/nonexistent"
	t_case bad-initrd-larger-than-ram 1 'initrd .* is larger than guest RAM' -- \
		"$NESTVM" run --kernel "$KERNEL" --initrd "$WORK/big-initrd" --memory 64M
	t_case bad-initrd-no-room 1 'do not both fit' -- \
		"$NESTVM" run --kernel "$KERNEL" --initrd "$WORK/big-initrd" --memory 128M
	t_case bad-memory-too-small-for-kernel 1 'too small for this kernel' -- \
		"$NESTVM" run --kernel "$KERNEL" --memory 32M
	t_case bad-memory-zero 1 'too small: at least 32M' -- "$NESTVM" run --kernel "$KERNEL" --memory 0
	t_case bad-memory-huge 1 'too large: at most 1T' -- "$NESTVM" run --kernel "$KERNEL" --memory 5000T
	t_case bad-memory-overflow 1 'too large' -- \
		"$NESTVM" run --kernel "$KERNEL" --memory 99999999999999999999999G
	t_case bad-memory-above-host 1 "more than this host's RAM" -- \
		"$NESTVM" run --kernel "$KERNEL" --memory 1T
	t_case bad-memory-not-a-size 1 "is not a size" -- "$NESTVM" run --kernel "$KERNEL" --memory lots
	t_case bad-memory-negative 1 "is not a size" -- "$NESTVM" run --kernel "$KERNEL" --memory -5M
	t_case bad-cpus-zero 1 'out of range: use 1 to 255' -- "$NESTVM" run --kernel "$KERNEL" --cpus 0
	t_case bad-cpus-huge 1 'out of range' -- "$NESTVM" run --kernel "$KERNEL" --cpus 100000
	t_case bad-cpus-word 1 'is not a number' -- "$NESTVM" run --kernel "$KERNEL" --cpus two
	t_case bad-option 1 "unknown option '--frobnicate'" -- "$NESTVM" run --frobnicate
	t_case bad-option-missing-value 1 'needs a value' -- "$NESTVM" run --kernel
	t_case bad-command 1 "unknown command 'frobnicate'" -- "$NESTVM" frobnicate
	t_case bad-cmdline-too-long 1 'command line is 6000 bytes' -- \
		"$NESTVM" run --kernel "$KERNEL" --cmdline "$long"
	t_case no-kvm-device 2 'does not exist' 'scripts/demo' -- \
		env NESTVM_KVM_DEVICE="$WORK/nonexistent" "$NESTVM" run --kernel "$KERNEL"
	t_case no-kvm-not-a-device 2 'not a character device' -- \
		env NESTVM_KVM_DEVICE="$WORK/garbage" "$NESTVM" run --kernel "$KERNEL"
	t_case no-kvm-wrong-device 2 'not a KVM device' -- \
		env NESTVM_KVM_DEVICE=/dev/null "$NESTVM" run --kernel "$KERNEL"
}
