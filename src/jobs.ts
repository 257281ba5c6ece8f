/** What a save hands the core: the destination, what the save does, and the data. */
import type { SaveWiring } from "./control.js";
import type { PackedArray } from "./convert.js";
import type { NativeDestination, NativeGroupArray, NativeGroupOptions, NativeSaveOptions } from "./native.js";

/** One array's save ready for the core: where, the request, the packed data it reads, and its wiring. */
export interface ArrayJob extends SaveWiring {
  destination: NativeDestination;
  request: NativeSaveOptions;
  packed: PackedArray;
}

/** A group save ready for the core: where, what the save does, and each array with its own options. */
export interface GroupJob extends SaveWiring {
  destination: NativeDestination;
  options: NativeGroupOptions;
  arrays: NativeGroupArray[];
}
