// The struct layouts of layout.ts against the BTF of the built object: every size and member offset user space
// relies on, and the kernel memory the loaded state map takes.
import { spawnSync } from 'node:child_process';
import { expandHashSeed } from '@tma/sketch';
import { COPIES, HASH_KEY_SECTION, STRUCTS } from './layout';
import { check, ffi } from './libbpf';
import { buildObject, OBJECT_PATH, rootDescribe, TestKernel } from './testing';

rootDescribe('kernel layout tests')('object layout', () => {
  beforeAll(buildObject);

  it('every struct size and member offset user space relies on equals the BTF of the object', () => {
    const r = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT_PATH], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(r.status).toBe(0);
    const types: { kind: string; name: string; size: number; members?: { name: string; bits_offset: number }[] }[] =
      JSON.parse(r.stdout).types;
    for (const [name, want] of Object.entries(STRUCTS)) {
      const t = types.find((x) => x.kind === 'STRUCT' && x.name === name);
      expect({ name, size: t?.size }).toEqual({ name, size: want.size });
      const members = Object.fromEntries((t?.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
      expect({ name, members }).toEqual({ name, members: want.members });
    }
  });

  it('kernel memory per CPU stays under 2 MiB: one struct tma_state per copy, whatever the traffic', () => {
    // totals 4,224 + errors 128 + CMS 16,384 x 16 + HLL 4 x 16,384 + candidates 256 x 256 + their bases 1,024 x 16
    // + per-interface totals 64 slots x 2 directions x 16 bytes + per-source spreads 2 x 512 buckets x 64
    // + heavy prefixes 12 tables x 64 sets x 192 bytes per copy
    expect(STRUCTS.tma_state.size).toBe(4224 + 128 + 262_144 + 65_536 + 65_536 + 16_384 + 2048 + 65_536 + 147_456);
    expect(COPIES * STRUCTS.tma_state.size).toBeLessThanOrEqual(2 << 20);
    // the loaded map holds exactly one entry per (possible CPU, copy)
    const tma = TestKernel.load();
    try {
      const info = Buffer.alloc(256);
      check('bpf_obj_get_info_by_fd', ffi.objInfo(tma.mapFd('tma_state'), info, [info.length]));
      // struct bpf_map_info: type, id, key_size, value_size, max_entries
      expect([info.readUInt32LE(12), info.readUInt32LE(16)]).toEqual([STRUCTS.tma_state.size, COPIES * tma.cpus]);
    } finally {
      tma.close();
    }
  });

  it('the hash key is a load-time value: its section holds the key of the given seed, read-only to the program', () => {
    const seed = expandHashSeed(0x0123456789abcdefn);
    const tma = TestKernel.load({ hashSeed: seed });
    try {
      const fd = tma.mapFd(HASH_KEY_SECTION);
      const info = Buffer.alloc(256);
      check('bpf_obj_get_info_by_fd', ffi.objInfo(fd, info, [info.length]));
      // struct bpf_map_info: value_size at 12, map_flags at 20; BPF_F_RDONLY_PROG = 1 << 7
      expect(info.readUInt32LE(12)).toBe(STRUCTS.tma_hash_key.size);
      expect(info.readUInt32LE(20) & 0x80).toBe(0x80);
      const key = Buffer.alloc(STRUCTS.tma_hash_key.size);
      check('lookup .rodata.hash', ffi.lookup(fd, Buffer.alloc(4), key));
      const m = STRUCTS.tma_hash_key.members;
      expect(Array.from({ length: seed.k.length }, (_, i) => key.readUInt32LE(m.k + 4 * i))).toEqual(seed.k);
      expect([key.readUInt32LE(m.f + 4), key.readUInt32LE(m.f)]).toEqual([seed.fHi, seed.fLo]);
    } finally {
      tma.close();
    }
  });
});
