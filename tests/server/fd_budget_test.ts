// Counting the file descriptors the server may still open (lib/server/fd_budget.ts).
// Under a real low `ulimit -n`: tests/fault/fd_limit_test.ts.

import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import {
  descriptorShortage,
  freeDescriptors,
  isOutOfDescriptors,
} from "../../lib/server/fd_budget.ts";

Deno.test({
  name: "counts up to the number asked for, and leaves no descriptor open",
  ignore: Deno.build.os === "windows",
  fn() {
    // The kernel hands out the lowest free descriptor: the same one before
    // and after means every counted descriptor was closed again.
    const lowest = () => {
      const fd = openSync("/dev/null", "r");
      closeSync(fd);
      return fd;
    };
    const before = lowest();
    assert.equal(freeDescriptors(50), 50);
    assert.equal(lowest(), before);
    assert.equal(descriptorShortage(), undefined);
  },
});

Deno.test("knows the errors of a process out of descriptors from others", () => {
  assert.ok(isOutOfDescriptors(new Error("Too many open files (os error 24): open '/dev/null'")));
  assert.ok(isOutOfDescriptors(new Error("EMFILE: too many open files, open '/dev/null'")));
  assert.ok(isOutOfDescriptors(Object.assign(new Error("accept"), { code: "EMFILE" }).code));
  assert.ok(!isOutOfDescriptors(new Error("No such file or directory (os error 2)")));
  assert.ok(!isOutOfDescriptors(new Error("Permission denied (os error 13)")));
});
