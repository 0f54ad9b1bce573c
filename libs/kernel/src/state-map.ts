// The tma_state array (struct tma_state per CPU and copy) mapped into this process: the kernel writes it, user space
// reads the idle copy and zeroes it in place, with no copying syscall. The mapping holds a reference on the map, so
// it stays valid until unmap(); after that the views point at unmapped memory, where an access would kill the
// process, so readers go through live().
import koffi from 'koffi';
import { LibbpfError, MAP_SHARED, PROT_READ, PROT_WRITE, ffi } from './libbpf';
import { COPIES, STRUCTS, stateKey, stateMmapBytes } from './layout';

const STATE = STRUCTS.tma_state.size;

export class StateMap {
  /** the whole map: entry k at byte k * sizeof(struct tma_state) */
  readonly bytes: Uint8Array;
  /** the same memory as little-endian u32 words (u64 counters are read as two words) */
  readonly words: Uint32Array;
  private readonly length: number;
  private addr: unknown;

  constructor(
    fd: number,
    readonly cpus: number,
  ) {
    this.length = stateMmapBytes(cpus, ffi.pageSize());
    const addr = ffi.mmap(null, this.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!addr || koffi.address(addr) === 0xffffffffffffffffn) throw new LibbpfError('mmap tma_state', -1);
    this.addr = addr;
    const buf = koffi.view(addr, this.length);
    this.bytes = new Uint8Array(buf);
    this.words = new Uint32Array(buf);
  }

  /** Throws once unmapped: every access to the views must be preceded by this check. */
  live(): this {
    if (this.addr === null) throw new Error('tma_state is unmapped (kernel object closed)');
    return this;
  }

  /** Byte offset of one CPU's entry for one copy. */
  offset(cpu: number, copy: number): number {
    return stateKey(cpu, copy) * STATE;
  }

  /** Zeroes one copy on every CPU (only safe once the barrier has shown the kernel no longer writes it). */
  clear(copy: number): void {
    this.live();
    for (let cpu = 0; cpu < this.cpus; cpu++)
      this.bytes.fill(0, this.offset(cpu, copy), this.offset(cpu, copy) + STATE);
  }

  clearAll(): void {
    for (let copy = 0; copy < COPIES; copy++) this.clear(copy);
  }

  unmap(): void {
    if (this.addr === null) return;
    ffi.munmap(this.addr, this.length);
    this.addr = null;
  }
}
