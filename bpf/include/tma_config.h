/* Load-time knobs: one struct in .rodata, so the verifier sees the values as constants and drops dead branches
 * (sampling and tracing cost nothing when off). User space sets it before load; layout in tma_types.h. */
#ifndef TMA_CONFIG_H
#define TMA_CONFIG_H

#include "tma_types.h"

const volatile struct tma_cfg tma_cfg = {
	.sample_rate = 1,
	.trace = 0,
	.cand_threshold = TMA_CAND_THRESHOLD_DEFAULT,
	.cand_noise_shift = TMA_CAND_NOISE_SHIFT_DEFAULT,
	.tunnels = TMA_TUNNELS_OUTER,
};

#endif /* TMA_CONFIG_H */
