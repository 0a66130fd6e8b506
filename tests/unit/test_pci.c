/* Unit tests for PCI configuration mechanism #1 and the device config-space
 * model (src/hw/pci.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pci.h"

#define CONF1(bus, slot, func, reg) \
	(0x80000000u | (uint32_t)(bus) << 16 | (uint32_t)(slot) << 11 | \
	 (uint32_t)(func) << 8 | ((uint32_t)(reg) & 0xfc))

#define CMD_IO  0x1
#define CMD_MEM 0x2

struct moved {
	struct pci_device *dev;
	int bar;
	uint64_t old_addr, new_addr;
};

struct ctx {
	struct pci_bus bus;
	struct pci_device dev;
	struct moved ev[64];
	int nev;
};

static struct ctx *cur;

static void on_bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct ctx *c = dev->opaque;

	assert_ptr_equal(c, cur);
	if (c->nev < (int)(sizeof(c->ev) / sizeof(c->ev[0])))
		c->ev[c->nev] = (struct moved){ dev, bar, old_addr, new_addr };
	c->nev++;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	pci_bus_init(&c->bus);
	pci_device_init(&c->dev, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x0001);
	c->dev.bar_moved = on_bar_moved;
	c->dev.opaque = c;
	cur = c;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	pci_bus_destroy(&c->bus);
	free(c);
	cur = NULL;
	return 0;
}

/* Port-level helpers: what the guest does with in/out. */
static void outl_addr(struct ctx *c, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	pci_conf_addr_io(&c->bus, 0, d, 4, true);
}

static uint32_t inl_addr(struct ctx *c)
{
	uint8_t d[4] = { 0 };

	pci_conf_addr_io(&c->bus, 0, d, 4, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 |
	       (uint32_t)d[3] << 24;
}

static uint32_t in_data(struct ctx *c, unsigned int port_off, uint32_t len)
{
	uint8_t d[4] = { 0x12, 0x34, 0x56, 0x78 };
	uint32_t v = 0;

	pci_conf_data_io(&c->bus, port_off, d, len, false);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static void out_data(struct ctx *c, unsigned int port_off, uint32_t len, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	pci_conf_data_io(&c->bus, port_off, d, len, true);
}

/* Linux pci_conf1_read(): address, then in{b,w,l}(0xCFC + (reg & 3 or 2)). */
static uint32_t conf1_read(struct ctx *c, int slot, int reg, int len)
{
	outl_addr(c, CONF1(0, slot, 0, reg));
	return in_data(c, (unsigned int)(reg & (len == 2 ? 2 : len == 1 ? 3 : 0)), (uint32_t)len);
}

static void conf1_write(struct ctx *c, int slot, int reg, int len, uint32_t v)
{
	outl_addr(c, CONF1(0, slot, 0, reg));
	out_data(c, (unsigned int)(reg & (len == 2 ? 2 : len == 1 ? 3 : 0)), (uint32_t)len, v);
}

static uint32_t rd(struct ctx *c, int reg, int size)
{
	return pci_conf_read(&c->bus, 0, c->dev.slot, 0, (uint16_t)reg, size);
}

static void wr(struct ctx *c, int reg, int size, uint32_t v)
{
	pci_conf_write(&c->bus, 0, c->dev.slot, 0, (uint16_t)reg, size, v);
}

static void expect_moved(struct ctx *c, int i, int bar, uint64_t old_addr, uint64_t new_addr)
{
	assert_true(i < c->nev);
	assert_ptr_equal(c->ev[i].dev, &c->dev);
	assert_int_equal(c->ev[i].bar, bar);
	assert_int_equal(c->ev[i].old_addr, old_addr);
	assert_int_equal(c->ev[i].new_addr, new_addr);
}

static void test_type1_detect_and_host_bridge(void **state)
{
	struct ctx *c = *state;
	uint8_t b = 0x01;
	uint32_t tmp;

	/* pci_check_type1(): outb(0x01, 0xCFB) must not disturb 0xCF8 */
	outl_addr(c, 0x12345678);
	pci_conf_addr_io(&c->bus, 3, &b, 1, true);
	tmp = inl_addr(c);
	assert_int_equal(tmp, 0x12345678);
	outl_addr(c, 0x80000000);
	assert_int_equal(inl_addr(c), 0x80000000);
	outl_addr(c, tmp);

	/* pci_sanity_check(): class word at 0x0a of 00:00.0 */
	assert_int_equal(conf1_read(c, 0, 0x0a, 2), 0x0600);
	assert_int_equal(conf1_read(c, 0, 0x00, 2), 0x8086);
	assert_int_equal(conf1_read(c, 0, 0x02, 2), 0x29c0);
	assert_int_equal(conf1_read(c, 0, 0x00, 4), 0x29c08086);
	assert_int_equal(conf1_read(c, 0, 0x08, 4) >> 8, 0x060000);
	assert_int_equal(conf1_read(c, 0, 0x0b, 1), 0x06);
	assert_int_equal(conf1_read(c, 0, 0x0e, 1), 0x00); /* single function, type 0 */
	assert_int_equal(conf1_read(c, 0, 0x34, 1), 0x00);
	assert_int_equal(pci_conf_read(&c->bus, 0, 0, 0, 0, 4),
			 (uint32_t)PCI_HOST_BRIDGE_DEVICE << 16 | PCI_HOST_BRIDGE_VENDOR);
	/* the host bridge has no BARs */
	for (int reg = 0x10; reg < 0x28; reg += 4) {
		conf1_write(c, 0, reg, 4, 0xffffffff);
		assert_int_equal(conf1_read(c, 0, reg, 4), 0);
	}
}

static void test_absent_functions_read_ones(void **state)
{
	struct ctx *c = *state;

	for (int slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		assert_int_equal(conf1_read(c, slot, 0, 4), 0xffffffffu);
		assert_int_equal(conf1_read(c, slot, 0, 2), 0xffff);
		assert_int_equal(conf1_read(c, slot, 0x0e, 1), 0xff);
	}
	for (int func = 1; func < 8; func++) {
		outl_addr(c, CONF1(0, 0, func, 0));
		assert_int_equal(in_data(c, 0, 4), 0xffffffffu);
	}
	outl_addr(c, CONF1(1, 0, 0, 0));
	assert_int_equal(in_data(c, 0, 4), 0xffffffffu);
	outl_addr(c, CONF1(0xff, 31, 7, 0xfc));
	assert_int_equal(in_data(c, 0, 4), 0xffffffffu);
	out_data(c, 0, 4, 0); /* dropped */
	assert_int_equal(pci_conf_read(&c->bus, 1, 0, 0, 0, 4), 0xffffffffu);
	assert_int_equal(pci_conf_read(&c->bus, 0, 0, 1, 0, 2), 0xffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 40, 0, 0, 1), 0xff);
}

static void test_enable_bit_clear(void **state)
{
	struct ctx *c = *state;

	outl_addr(c, CONF1(0, 0, 0, 0) & ~0x80000000u);
	assert_int_equal(in_data(c, 0, 4), 0xffffffffu);
	assert_int_equal(in_data(c, 2, 2), 0xffff);
	assert_int_equal(in_data(c, 1, 1), 0xff);
	/* writes with the enable bit clear go nowhere */
	outl_addr(c, CONF1(0, 0, 0, 0x3c) & ~0x80000000u);
	out_data(c, 0, 1, 0x0b);
	assert_int_equal(conf1_read(c, 0, 0x3c, 1), 0x00);
	conf1_write(c, 0, 0x3c, 1, 0x0b);
	assert_int_equal(conf1_read(c, 0, 0x3c, 1), 0x0b);
}

static void test_address_register_sizes(void **state)
{
	struct ctx *c = *state;
	uint8_t d[4];

	outl_addr(c, 0x80001007); /* bits 1:0 read 0 */
	assert_int_equal(inl_addr(c), 0x80001004);
	/* only 4-byte accesses at 0xCF8 reach it */
	d[0] = 0;
	d[1] = 0;
	pci_conf_addr_io(&c->bus, 0, d, 2, true);
	pci_conf_addr_io(&c->bus, 2, d, 2, true);
	pci_conf_addr_io(&c->bus, 0, d, 1, true);
	assert_int_equal(inl_addr(c), 0x80001004);
	memset(d, 0, sizeof(d));
	pci_conf_addr_io(&c->bus, 0, d, 2, false);
	assert_int_equal(d[0], 0xff);
	assert_int_equal(d[1], 0xff);
	pci_conf_addr_io(&c->bus, 1, d, 1, false);
	assert_int_equal(d[0], 0xff);
	pci_conf_addr_io(&c->bus, 0, d, 0, true);
	assert_int_equal(inl_addr(c), 0x80001004);
}

static void test_data_port_byte_lanes(void **state)
{
	struct ctx *c = *state;

	/* dword 0x3c, byte lane 0 = interrupt line, lane 1 = pin */
	c->dev.config[0x3d] = 1; /* INTA# */
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 3), 3);
	outl_addr(c, CONF1(0, 3, 0, 0x3c));
	out_data(c, 0, 1, 0x0a);
	out_data(c, 1, 1, 0x04); /* pin is read-only */
	assert_int_equal(in_data(c, 0, 1), 0x0a);
	assert_int_equal(in_data(c, 1, 1), 0x01);
	assert_int_equal(in_data(c, 0, 2), 0x010a);
	/* reading dword 0: each lane of 0xCFC..0xCFF */
	outl_addr(c, CONF1(0, 3, 0, 0x00));
	assert_int_equal(in_data(c, 0, 1), 0xf4);
	assert_int_equal(in_data(c, 1, 1), 0x1a);
	assert_int_equal(in_data(c, 2, 1), 0x41);
	assert_int_equal(in_data(c, 3, 1), 0x10);
	assert_int_equal(in_data(c, 2, 2), 0x1041);
	/* the register number's low two bits are ignored */
	outl_addr(c, CONF1(0, 3, 0, 0x00) | 0x3);
	assert_int_equal(in_data(c, 0, 4), 0x10411af4);
}

static void test_bar_32bit_mem(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);
	assert_int_equal(c->dev.slot, 1);

	assert_int_equal(conf1_read(c, 1, 0x10, 4), 0x0);
	conf1_write(c, 1, 0x10, 4, 0xffffffff);
	assert_int_equal(conf1_read(c, 1, 0x10, 4), 0xfffff000);
	assert_int_equal(c->nev, 0); /* decode off: nothing moved */
	conf1_write(c, 1, 0x10, 4, 0xc0001abc);
	assert_int_equal(conf1_read(c, 1, 0x10, 4), 0xc0001000);
	assert_int_equal(pci_device_bar_addr(&c->dev, 0), 0);
	assert_int_equal(c->nev, 0);

	conf1_write(c, 1, 0x04, 2, CMD_MEM);
	assert_int_equal(c->nev, 1);
	expect_moved(c, 0, 0, 0, 0xc0001000);
	assert_int_equal(pci_device_bar_addr(&c->dev, 0), 0xc0001000);

	conf1_write(c, 1, 0x10, 4, 0xc0001000); /* same place: no event */
	conf1_write(c, 1, 0x04, 2, CMD_MEM | 0x4); /* bus master only */
	assert_int_equal(c->nev, 1);
	conf1_write(c, 1, 0x04, 2, CMD_MEM | CMD_IO); /* IO: no IO BAR here */
	assert_int_equal(c->nev, 1);

	conf1_write(c, 1, 0x12, 2, 0xc000); /* high word only: no move */
	assert_int_equal(c->nev, 1);
	conf1_write(c, 1, 0x12, 2, 0xc010);
	assert_int_equal(c->nev, 2);
	expect_moved(c, 1, 0, 0xc0001000, 0xc0101000);

	conf1_write(c, 1, 0x04, 2, 0);
	assert_int_equal(c->nev, 3);
	expect_moved(c, 2, 0, 0xc0101000, 0);
	assert_int_equal(pci_device_bar_addr(&c->dev, 0), 0);
	/* the register itself keeps the address */
	assert_int_equal(conf1_read(c, 1, 0x10, 4), 0xc0101000);
}

static void test_bar_64bit_mem(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_device_set_bar(&c->dev, 2, 0x4000, false, true), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 4, 1ull << 33, false, true), 0);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);

	assert_int_equal(rd(c, 0x18, 4), 0x4); /* type 10b: 64-bit */
	wr(c, 0x18, 4, 0xffffffff);
	wr(c, 0x1c, 4, 0xffffffff);
	assert_int_equal(rd(c, 0x18, 4), 0xffffc004);
	assert_int_equal(rd(c, 0x1c, 4), 0xffffffff);
	/* 8 GiB: no address bits in the low dword */
	wr(c, 0x20, 4, 0xffffffff);
	wr(c, 0x24, 4, 0xffffffff);
	assert_int_equal(rd(c, 0x20, 4), 0x4);
	assert_int_equal(rd(c, 0x24, 4), 0xfffffffe);
	assert_int_equal(c->nev, 0);

	wr(c, 0x18, 4, 0x20000000);
	wr(c, 0x1c, 4, 0x1);
	wr(c, 0x20, 4, 0);
	wr(c, 0x24, 4, 0x4);
	assert_int_equal(c->nev, 0);
	wr(c, 0x04, 2, CMD_MEM);
	assert_int_equal(c->nev, 2);
	expect_moved(c, 0, 2, 0, 0x120000000ull);
	expect_moved(c, 1, 4, 0, 0x400000000ull);
	assert_int_equal(pci_device_bar_addr(&c->dev, 2), 0x120000000ull);
	assert_int_equal(pci_device_bar_addr(&c->dev, 3), 0); /* upper half */
	assert_int_equal(pci_device_bar_addr(&c->dev, 4), 0x400000000ull);

	/* moving with decode on: one event per dword write */
	wr(c, 0x1c, 4, 0);
	assert_int_equal(c->nev, 3);
	expect_moved(c, 2, 2, 0x120000000ull, 0x20000000);
	/* an 8-byte BAR written as a 2-byte access to its high dword */
	wr(c, 0x1e, 2, 0x8000);
	assert_int_equal(c->nev, 4);
	expect_moved(c, 3, 2, 0x20000000, 0x8000000020000000ull);
}

static void test_bar_io(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_device_set_bar(&c->dev, 1, 0x40, true, false), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 7), 7);

	assert_int_equal(conf1_read(c, 7, 0x14, 4), 0x1);
	conf1_write(c, 7, 0x14, 4, 0xffffffff);
	assert_int_equal(conf1_read(c, 7, 0x14, 4), 0xffffffc1);
	conf1_write(c, 7, 0x14, 4, 0xc07f);
	assert_int_equal(conf1_read(c, 7, 0x14, 4), 0xc041);
	conf1_write(c, 7, 0x10, 4, 0xd0000000);

	conf1_write(c, 7, 0x04, 2, CMD_MEM); /* only the memory BAR moves */
	assert_int_equal(c->nev, 1);
	expect_moved(c, 0, 0, 0, 0xd0000000);
	conf1_write(c, 7, 0x04, 2, CMD_MEM | CMD_IO);
	assert_int_equal(c->nev, 2);
	expect_moved(c, 1, 1, 0, 0xc040);
	assert_int_equal(pci_device_bar_addr(&c->dev, 1), 0xc040);
	conf1_write(c, 7, 0x04, 2, 0); /* both off: two events, in BAR order */
	assert_int_equal(c->nev, 4);
	expect_moved(c, 2, 0, 0xd0000000, 0);
	expect_moved(c, 3, 1, 0xc040, 0);
	conf1_write(c, 7, 0x04, 2, CMD_IO);
	assert_int_equal(c->nev, 5);
	expect_moved(c, 4, 1, 0, 0xc040);
}

static void test_unimplemented_bars_read_zero(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x100, false, false), 0);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);
	for (int reg = 0x14; reg < 0x28; reg += 4) {
		wr(c, reg, 4, 0xffffffff);
		assert_int_equal(rd(c, reg, 4), 0);
	}
	wr(c, 0x30, 4, 0xfffff800); /* no expansion ROM */
	assert_int_equal(rd(c, 0x30, 4), 0);
	wr(c, 0x04, 2, CMD_MEM | CMD_IO);
	assert_int_equal(c->nev, 0); /* BAR0 at 0: still 0 */
	for (int bar = 1; bar < PCI_NUM_BARS; bar++)
		assert_int_equal(pci_device_bar_addr(&c->dev, bar), 0);
	assert_int_equal(pci_device_bar_addr(&c->dev, -1), 0);
	assert_int_equal(pci_device_bar_addr(&c->dev, PCI_NUM_BARS), 0);
}

static void test_set_bar_errors(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_device_set_bar(&c->dev, -1, 0x1000, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 6, 0x1000, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1800, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 8, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 2, true, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x100, true, true), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 1ull << 32, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 5, 0x1000, false, true), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1000, false, true), 0);
	/* BAR1 is BAR0's upper half */
	assert_int_equal(pci_device_set_bar(&c->dev, 1, 0x1000, false, false), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 2, 16, false, false), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 4, 4, true, false), 0);
	/* a 64-bit BAR at 3 would take 4, which is in use */
	assert_int_equal(pci_device_set_bar(&c->dev, 3, 0x1000, false, true), -EINVAL);
	assert_int_equal(pci_device_set_bar(&c->dev, 3, 4, true, false), 0);
	assert_int_equal(c->dev.bar_size[3], 4);
	assert_true(c->dev.bar_is_io[3]);
	/* re-declaring the 64-bit BAR0 as 32-bit frees its upper half */
	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 1, 0x1000, false, false), 0);
	assert_int_equal(c->dev.config[0x10] & 0x6, 0);
}

static void test_wmask_and_w1c(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);
	c->dev.config[0x3d] = 2;
	wr(c, 0x00, 4, 0);
	assert_int_equal(rd(c, 0x00, 4), 0x10411af4); /* vendor/device read-only */
	wr(c, 0x08, 4, 0xffffffff);
	assert_int_equal(rd(c, 0x08, 4), 0x02000001); /* class/revision read-only */
	wr(c, 0x2c, 4, 0);
	assert_int_equal(rd(c, 0x2c, 4), 0x00011af4);
	wr(c, 0x0c, 4, 0xffffffff);
	assert_int_equal(rd(c, 0x0e, 1), 0x00);       /* header type */
	assert_int_equal(rd(c, 0x0c, 1), 0xff);       /* cache line size */
	wr(c, 0x3c, 2, 0xffff);
	assert_int_equal(rd(c, 0x3c, 1), 0xff);       /* line: writable */
	assert_int_equal(rd(c, 0x3d, 1), 0x02);       /* pin: device's */
	wr(c, 0x34, 1, 0x80);
	assert_int_equal(rd(c, 0x34, 1), 0x00);

	/* command: only the defined bits */
	wr(c, 0x04, 2, 0xffff);
	assert_int_equal(rd(c, 0x04, 2), 0x0547);
	wr(c, 0x04, 2, 0);

	/* status: read-only except write-1-to-clear error bits */
	c->dev.config[0x07] = 0xf9;
	wr(c, 0x06, 2, 0x0010);
	assert_int_equal(rd(c, 0x06, 2), 0xf900);
	wr(c, 0x06, 2, 0x8000);
	assert_int_equal(rd(c, 0x06, 2), 0x7900);
	/* a command write in the same dword keeps status bits written as 0 */
	wr(c, 0x04, 4, 0x01000002);
	assert_int_equal(rd(c, 0x06, 2), 0x7800);
	assert_int_equal(rd(c, 0x04, 2), 0x0002);
}

static void test_capability_chain(void **state)
{
	struct ctx *c = *state;
	static const uint8_t vndr[16] = { 0x09, 0xee, 16, 1, 0, 0, 0, 0, 0x11, 0x22 };
	static const uint8_t msi[10] = { 0x05, 0xee, 0x80, 0x00 };
	static const uint8_t msix[12] = { 0x11, 0xee, 0x03, 0x00, 0x01 };
	static const uint8_t big[200] = { 0x09 };
	static const uint8_t want_id[] = { 0x09, 0x05, 0x11 };
	int off0, off1, off2, n = 0;
	uint8_t ptr;

	assert_int_equal(rd(c, 0x06, 2) & 0x10, 0);
	off0 = pci_device_add_cap(&c->dev, vndr, sizeof(vndr));
	off1 = pci_device_add_cap(&c->dev, msi, sizeof(msi));
	off2 = pci_device_add_cap(&c->dev, msix, sizeof(msix));
	assert_int_equal(off0, 0x40);
	assert_int_equal(off1, 0x50);
	assert_int_equal(off2, 0x5c); /* 0x50 + 10, rounded up to 4 */
	assert_int_equal(pci_device_add_cap(&c->dev, big, sizeof(big)), -ENOSPC);
	assert_int_equal(pci_device_add_cap(&c->dev, msi, 1), -EINVAL);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);

	/* what Linux does: status bit 4, then walk from 0x34 */
	assert_int_equal(conf1_read(c, 1, 0x06, 2) & 0x10, 0x10);
	ptr = (uint8_t)conf1_read(c, 1, 0x34, 1);
	while (ptr && n < 48) {
		assert_int_equal(ptr & 3, 0);
		assert_true(ptr >= 0x40);
		assert_true(n < 3);
		assert_int_equal(conf1_read(c, 1, ptr, 1), want_id[n]);
		ptr = (uint8_t)conf1_read(c, 1, ptr + 1, 1);
		n++;
	}
	assert_int_equal(n, 3);
	/* body copied, next pointer filled in */
	assert_int_equal(rd(c, off0 + 8, 2), 0x2211);
	assert_int_equal(rd(c, off0 + 1, 1), off1);
	assert_int_equal(rd(c, off2 + 4, 1), 0x01);
	/* the guest cannot rewrite the chain */
	wr(c, off0 + 1, 1, 0x00);
	wr(c, 0x34, 1, 0x00);
	assert_int_equal(rd(c, 0x34, 1), 0x40);
	assert_int_equal(rd(c, off0 + 1, 1), off1);
	/* the last one that fits ends exactly at 0x100 */
	assert_int_equal(pci_device_add_cap(&c->dev, big, 0x100 - 0x68), 0x68);
	assert_int_equal(pci_device_add_cap(&c->dev, msi, 2), -ENOSPC);
}

static void test_bus_add(void **state)
{
	struct ctx *c = *state;
	static struct pci_device devs[PCI_MAX_SLOTS];
	int i;

	assert_int_equal(pci_bus_add(&c->bus, NULL, 0), -EINVAL);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, PCI_MAX_SLOTS), -EINVAL);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, -1), -EINVAL);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 5), 5);
	assert_int_equal(pci_bus_add(&c->bus, &devs[0], 5), -EBUSY);
	assert_int_equal(conf1_read(c, 5, 0, 4), 0x10411af4);
	for (i = 1; i < PCI_MAX_SLOTS - 1; i++) {
		int slot;

		pci_device_init(&devs[i], 0x1234, (uint16_t)i, 0xff0000, 0, 0, 0);
		slot = pci_bus_add(&c->bus, &devs[i], 0);
		assert_int_equal(slot, i < 5 ? i : i + 1);
		assert_int_equal(devs[i].slot, slot);
		assert_int_equal(conf1_read(c, slot, 2, 2), i);
	}
	pci_device_init(&devs[0], 0x1234, 0, 0, 0, 0, 0);
	assert_int_equal(pci_bus_add(&c->bus, &devs[0], 0), -ENOSPC);
	/* the host bridge is still at 00:00.0 */
	assert_int_equal(conf1_read(c, 0, 0, 2), 0x8086);
}

/* conf_written: called after every configuration write that reached the
 * device, with its offset and size, the new bytes in place and the bus
 * lock free; not for reads, absent functions or a disabled address. */
static struct {
	int calls;
	unsigned int offset;
	int size;
	uint32_t seen;
	bool lock_free;
} written;

static void on_conf_written(struct pci_device *dev, unsigned int offset, int size)
{
	struct ctx *c = dev->opaque;

	written.calls++;
	written.offset = offset;
	written.size = size;
	written.lock_free = pthread_mutex_trylock(&c->bus.lock) == 0;
	if (written.lock_free)
		pthread_mutex_unlock(&c->bus.lock);
	written.seen = pci_device_conf_read(&c->bus, dev, (uint16_t)offset, size);
}

static void test_conf_written_hook(void **state)
{
	struct ctx *c = *state;
	int slot;

	memset(&written, 0, sizeof(written));
	c->dev.conf_written = on_conf_written;
	c->dev.wmask[0x42] = 0xff;
	c->dev.wmask[0x43] = 0xff;
	slot = pci_bus_add(&c->bus, &c->dev, 0);
	assert_true(slot > 0);

	conf1_write(c, slot, 0x42, 2, 0xc0de);          /* through the ports */
	assert_int_equal(written.calls, 1);
	assert_int_equal(written.offset, 0x42);
	assert_int_equal(written.size, 2);
	assert_int_equal(written.seen, 0xc0de);
	assert_true(written.lock_free);

	wr(c, 0x43, 1, 0x5a);                           /* the raw call */
	assert_int_equal(written.calls, 2);
	assert_int_equal(written.offset, 0x43);
	assert_int_equal(written.size, 1);
	assert_int_equal(written.seen, 0x5a);
	assert_true(written.lock_free);

	(void)conf1_read(c, slot, 0x42, 2);             /* reads, nobody, disabled */
	conf1_write(c, slot + 1, 0x42, 2, 1);
	outl_addr(c, CONF1(0, slot, 0, 0x40) & ~0x80000000u);
	out_data(c, 2, 2, 1);
	assert_int_equal(written.calls, 2);
	assert_int_equal(rd(c, 0x42, 2), 0x5ade);
}

static void test_odd_accesses_do_not_crash(void **state)
{
	struct ctx *c = *state;
	uint8_t d[8];

	assert_int_equal(pci_device_set_bar(&c->dev, 0, 0x1000, false, false), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 2, 0x100, true, false), 0);
	assert_int_equal(pci_device_set_bar(&c->dev, 4, 0x10000, false, true), 0);
	assert_int_equal(pci_bus_add(&c->bus, &c->dev, 0), 1);

	/* unaligned but in-dword data port accesses: 2 bytes at 0xCFD */
	outl_addr(c, CONF1(0, 1, 0, 0));
	assert_int_equal(in_data(c, 1, 2), 0x411a);
	/* sizes and offsets the data port does not take: all-ones */
	assert_int_equal(in_data(c, 0, 3), 0xffffff);
	assert_int_equal(in_data(c, 2, 4), 0xffffffff);
	assert_int_equal(in_data(c, 3, 2), 0xffff);
	memset(d, 0, sizeof(d));
	pci_conf_data_io(&c->bus, 0, d, 8, false);
	for (int i = 0; i < 8; i++)
		assert_int_equal(d[i], 0xff);
	pci_conf_data_io(&c->bus, UINT64_MAX, d, 4, false);
	pci_conf_data_io(&c->bus, UINT64_MAX, d, 4, true);
	pci_conf_data_io(&c->bus, 0, d, 0, false);
	out_data(c, 2, 4, 0);
	/* raw accessors: bad size, offset past the space */
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0, 3), 0xffffffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0, 0), 0xffffffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0, -4), 0xffffffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0xfe, 4), 0xffffffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0x100, 1), 0xff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0xffff, 2), 0xffff);
	assert_int_equal(pci_conf_read(&c->bus, 0, 1, 0, 0xff, 1), 0x00);
	pci_conf_write(&c->bus, 0, 1, 0, 0xfe, 4, 0);
	pci_conf_write(&c->bus, 0, 1, 0, 0xffff, 4, 0);
	pci_conf_write(&c->bus, 0, 1, 0, 0x10, 3, 0x123456);
	assert_int_equal(rd(c, 0x10, 4), 0);
	/* extended register bits 27:24: past 0xff, absent */
	outl_addr(c, CONF1(0, 1, 0, 0) | 0x01000000u);
	assert_int_equal(in_data(c, 0, 4), 0xffffffff);

	/* every offset, size and a pattern of values through the ports */
	for (unsigned int reg = 0; reg < 256; reg++)
		for (unsigned int len = 1; len <= 4; len <<= 1)
			for (unsigned int lane = 0; lane < 4; lane++) {
				outl_addr(c, CONF1(0, 1, 0, reg));
				out_data(c, lane, len, 0xa5a5a5a5u ^ (reg * 0x01010101u));
				(void)in_data(c, lane, len);
			}
	/* identity survives, BAR masking holds */
	assert_int_equal(rd(c, 0x00, 4), 0x10411af4);
	assert_int_equal(rd(c, 0x10, 4) & 0xfff, 0);
	assert_int_equal(rd(c, 0x18, 4) & 0xff, 0x01);
	assert_int_equal(rd(c, 0x20, 4) & 0xffff, 0x4);
	assert_int_equal(rd(c, 0x0e, 1), 0);
	/* every event the fuzz made was for an implemented BAR */
	for (int i = 0; i < c->nev && i < 64; i++)
		assert_true(c->ev[i].bar == 0 || c->ev[i].bar == 2 || c->ev[i].bar == 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_type1_detect_and_host_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_functions_read_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_bit_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_register_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_port_byte_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_32bit_mem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_64bit_mem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unimplemented_bars_read_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_bar_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wmask_and_w1c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_written_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_accesses_do_not_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
