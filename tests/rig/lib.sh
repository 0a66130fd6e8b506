# shellcheck shell=bash
# Shared helpers for the rig scripts (tests/rig/*). Source it from bash; it
# sets RIG_ROOT (the repository root) and RIG_DIR (the cache, default
# $RIG_ROOT/.rig, made absolute).

RIG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RIG_DIR=${RIG_DIR:-$RIG_ROOT/.rig}
mkdir -p "$RIG_DIR"
RIG_DIR=$(cd "$RIG_DIR" && pwd)
export RIG_DIR

rig_log() { printf 'rig: %s\n' "$*" >&2; }
rig_die() { printf 'rig: error: %s\n' "$*" >&2; exit 1; }

# rig_need CMD...: fail clearly when a tool is missing.
rig_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			rig_die "'$c' not found (run tests/rig/install-deps as root)"
	done
}

# rig_now: seconds since the epoch with fractions, for timings.
rig_now() { date +%s.%N; }
# rig_since START: seconds elapsed since START, one decimal.
rig_since() { awk -v s="$1" -v e="$(rig_now)" 'BEGIN { printf "%.1f", e - s }'; }

# rig_hash FILE...: one digest of the contents of the given files.
rig_hash() { cat -- "$@" | sha256sum | cut -d' ' -f1; }

# rig_busybox_tree DIR: static busybox at DIR/bin/busybox plus a symlink for
# every applet at its usual path.
rig_busybox_tree() {
	local dir=$1 bb=/bin/busybox applet
	[ -x "$bb" ] || rig_die "$bb missing (apt-get install busybox-static)"
	if ldd "$bb" >/dev/null 2>&1; then
		rig_die "$bb is dynamically linked; install busybox-static instead of busybox"
	fi
	mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin" \
		"$dir/proc" "$dir/sys" "$dir/dev" "$dir/tmp" "$dir/etc" "$dir/root"
	cp "$bb" "$dir/bin/busybox"
	while IFS= read -r applet; do
		case $applet in */*) ;; *) continue ;; esac
		[ -e "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
	done < <("$bb" --list-full)
}

# rig_cpio_gz DIR OUT: pack DIR as a gzipped newc cpio archive owned by root,
# written atomically to OUT.
rig_cpio_gz() {
	local dir=$1 out=$2
	mkdir -p "$(dirname "$out")"
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) | gzip -6 >"$out.tmp.$$"
	mv -f "$out.tmp.$$" "$out"
}

# rig_tmpdir NAME: a fresh scratch directory under $RIG_DIR/tmp.
rig_tmpdir() {
	mkdir -p "$RIG_DIR/tmp"
	mktemp -d "$RIG_DIR/tmp/$1.XXXXXX"
}

# rig_module_order MODULES_DIR NAME...: print the paths (relative to
# MODULES_DIR, as in its modules.dep) of the named modules and everything they
# depend on, each once, dependencies first: the order to insmod them in.
rig_module_order() {
	local mdir=$1
	shift
	[ -f "$mdir/modules.dep" ] || rig_die "$mdir/modules.dep missing (run tests/rig/fetch-kernel)"
	awk -v want="$*" '
	function name(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); gsub(/-/, "_", p); return p }
	function visit(p,   n, i, d) {
		if (p in seen) return
		seen[p] = 1
		n = split(deps[p], d, " ")
		for (i = n; i >= 1; i--) visit(d[i])   # modprobe loads the list backwards
		print p
	}
	{ p = $1; sub(/:$/, "", p); $1 = ""; deps[p] = $0; path[name(p)] = p }
	END {
		n = split(want, w, " ")
		for (i = 1; i <= n; i++) {
			m = w[i]; gsub(/-/, "_", m)
			if (!(m in path)) { print "rig: error: module " w[i] " not in modules.dep" > "/dev/stderr"; exit 1 }
			visit(path[m])
		}
	}' "$mdir/modules.dep"
}

# rig_install_modules KERNEL_DIR ROOT NAME...: copy the named modules and
# their dependencies (rig_module_order) from KERNEL_DIR/modules into
# ROOT/lib/modules/<ver>/, and list them, dependencies first, in
# ROOT/etc/rig/modules as "<ver>/<path> [params]" (kvm-amd and kvm-intel get
# nested=1): the file host-init and tests/guest/init load. RIG_MODULE_LIST
# names another list file under ROOT/etc/rig (tests/guest/init loads
# input-modules, the power button's, on its own).
rig_install_modules() {
	local kdir=$1 root=$2 kver m mods params list
	shift 2
	list=$root/etc/rig/${RIG_MODULE_LIST:-modules}
	kver=$(cat "$kdir/version")
	mods=$(rig_module_order "$kdir/modules" "$@") || exit 1
	mkdir -p "$root/etc/rig"
	: >"$list"
	for m in $mods; do
		case $m in *.ko) ;; *) rig_die "$m: compressed modules are not supported" ;; esac
		mkdir -p "$root/lib/modules/$kver/$(dirname "$m")"
		cp "$kdir/modules/$m" "$root/lib/modules/$kver/$m"
		params=
		case $(basename "$m") in kvm-amd.ko | kvm-intel.ko) params=nested=1 ;; esac
		echo "$kver/$m $params" >>"$list"
	done
}

# rig_copy_libs FILE ROOT: copy every shared library ldd lists for FILE (an
# executable or a library) into ROOT, each at its own path.
rig_copy_libs() {
	local bin=$1 root=$2 lib out
	if ! out=$(ldd "$bin" 2>&1); then
		case $out in *"not a dynamic executable"*) return 0 ;; esac
		rig_die "ldd $bin failed: $out"
	fi
	case $out in *"not found"*) rig_die "ldd $bin: missing libraries: $out" ;; esac
	while read -r lib; do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
}

# rig_copy_bin BIN ROOT [DEST]: copy executable BIN to ROOT/DEST (default
# ROOT/usr/bin/<name>) with every shared library ldd lists, each at its own
# path (the dynamic loader included), so it runs inside the image at ROOT.
# For nestvm, also the libraries it loads on demand (`nestvm version
# --libs`: SQLite, libmicrohttpd, libcurl) with theirs.
rig_copy_bin() {
	local bin=$1 root=$2 dest=${3:-/usr/bin/$(basename "$1")} so path
	[ -x "$bin" ] || rig_die "$bin is not an executable file"
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$bin" "$root$dest"
	rig_copy_libs "$bin" "$root"
	[ "$(basename "$dest")" = nestvm ] || return 0
	for so in $("$bin" version --libs); do
		path=$("$(command -v ldconfig || echo /sbin/ldconfig)" -p | awk -v so="$so" '!p && $1 == so && /x86-64/ { p = $NF } END { print p }')
		[ -n "$path" ] || rig_die "nestvm loads $so on demand, and this machine has none"
		mkdir -p "$root$(dirname "$path")"
		cp -L "$path" "$root$path"
		rig_copy_libs "$path" "$root"
	done
}

# rig_lock NAME: hold $RIG_DIR/NAME.lock until the script exits, so that
# concurrent runs do not build the same cache entry at once.
rig_lock() {
	exec {RIG_LOCK_FD}>"$RIG_DIR/$1.lock"
	flock "$RIG_LOCK_FD"
}
