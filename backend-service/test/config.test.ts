import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  test("defaults to port 3000 on every interface", () => {
    expect(loadConfig({})).toEqual({ PORT: 3000, HOST: "0.0.0.0" });
  });

  test("reads PORT and HOST; a blank PORT counts as unset", () => {
    expect(loadConfig({ PORT: "8081", HOST: "127.0.0.1" })).toEqual({ PORT: 8081, HOST: "127.0.0.1" });
    expect(loadConfig({ PORT: "0" }).PORT).toBe(0);
    expect(loadConfig({ PORT: "" }).PORT).toBe(3000);
  });

  test.each(["abc", "-1", "65536", "3000.5", "1e3", "80 80", "99999999"])(
    "refuses PORT=%j with a message naming the variable",
    (value) => {
      expect(() => loadConfig({ PORT: value })).toThrow(ConfigError);
      expect(() => loadConfig({ PORT: value })).toThrow(/PORT: must be a whole number from 0 to 65535/);
    },
  );
});
