import { describe, expect, it } from "vitest";
import { ModalSeal } from "../../src/handlers/modal-seal.js";

describe("ModalSeal", () => {
  const seal = new ModalSeal("signing-secret-one");
  const metadata = JSON.stringify({ workflowId: "w-1", stepKey: "approval", channelId: "C0SECURITY" });
  const sealed = seal.seal("reject_approval", "U0APPROVER", metadata);

  it("opens what it sealed, for the same form and user", () => {
    expect(sealed).not.toBe(metadata);
    expect(seal.open("reject_approval", "U0APPROVER", sealed)).toBe(metadata);
    expect(new ModalSeal("signing-secret-one").open("reject_approval", "U0APPROVER", sealed)).toBe(metadata);
  });

  it("opens nothing edited, hand-built, for another form or user, or under another secret", () => {
    const edited = sealed.replace("w-1", "w-2");
    expect(seal.open("reject_approval", "U0APPROVER", edited)).toBeUndefined();
    expect(seal.open("reject_approval", "U0APPROVER", metadata)).toBeUndefined();
    expect(seal.open("skip_step", "U0APPROVER", sealed)).toBeUndefined();
    expect(seal.open("reject_approval", "U0SOMEONE", sealed)).toBeUndefined();
    expect(new ModalSeal("signing-secret-two").open("reject_approval", "U0APPROVER", sealed)).toBeUndefined();
    expect(seal.open("reject_approval", "U0APPROVER", sealed.slice(0, 20))).toBeUndefined();
    expect(seal.open("reject_approval", "U0APPROVER", undefined)).toBeUndefined();
    expect(seal.open("reject_approval", "U0APPROVER", "")).toBeUndefined();
  });
});
