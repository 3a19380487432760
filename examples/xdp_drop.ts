/* Drops everything: the xdp-bench drop baseline. */
import { XDP_DROP, xdp } from 'xdpsim';

export const xdp_drop = xdp(() => XDP_DROP);
