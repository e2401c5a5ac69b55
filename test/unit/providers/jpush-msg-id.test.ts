import { describe, expect, it } from "vitest";
import { msgIdOf } from "../../../src/providers/jpush/jpush-provider.js";

// msg_id is read from a 200 answer's raw text: as a JSON number above 2^53 it would not survive JSON.parse.
describe("msgIdOf", () => {
  it("keeps every digit of msg_id, quoted or bare, wherever it stands", () => {
    expect(msgIdOf('{"sendno":"0","msg_id":18446744073709551615}')).toBe("18446744073709551615");
    expect(msgIdOf('{"sendno": "0", "msg_id" : "2252074464628061"}')).toBe("2252074464628061");
    expect(msgIdOf('{"msg_id":18103083292408631,"sendno":"3"}')).toBe("18103083292408631");
  });

  it("finds none in an answer without one", () => {
    expect(msgIdOf('{"sendno":"0"}')).toBeUndefined();
    expect(msgIdOf("")).toBeUndefined();
    expect(msgIdOf('{"msg_id":null}')).toBeUndefined();
  });
});
