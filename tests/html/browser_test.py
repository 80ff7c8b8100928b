#!/usr/bin/env python3
"""The HTML viewer in a real browser (ctest `html_viewer`, docs/cli.md).

Writes the viewer of llama-7b and of full DeepSeek-V3 with the CLI, opens each
in headless Chromium (Debian's `chromium`, scripts/setup.sh test) driven over
the DevTools protocol on a pipe (--remote-debugging-pipe: python3's standard
library only), and checks, through the page and its small test interface
(window.metatrace):
  - the page loads without a script error and without any network request;
  - the repeated layers (and DeepSeek-V3's experts) are folded into groups,
    with the counts the configs give (32 layers; 3 dense, 58 MoE layers,
    256 routed experts), a group unfolds into its entries in the graph and in
    the module tree;
  - search finds a node by name, the panel shows its shape, parameter shapes
    and bytes and FLOPs, each checked against hand arithmetic below;
  - with --tp 2, the plan view shows the roles of q_proj (colwise) and
    o_proj (rowwise);
  - with --module model.layers.3 --depth 1, the page opens at layer 3 with
    its children listed in the module tree and theirs not.
A screenshot of each page is saved in the output directory. The time to
interactive of DeepSeek-V3 (navigation start to the first view drawn) is
printed; it fails the test only above 15 s (CI machines are noisy; the target
is 3 s, docs/cli.md). Exit 77 (skipped) when chromium is not installed.

Usage: browser_test.py CLI SOURCE_DIR OUT_DIR
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CLI, SRC, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
TTI_LIMIT_MS = 15000
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands) and 4 (replies)."""

    def __init__(self, exe, profile):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--user-data-dir=" + profile, "about:blank"]

        def fds():  # the pipe's ends at 3 and 4, whatever numbers they had
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.log = open(os.path.join(profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, preexec_fn=fds, pass_fds=(3, 4, cmd_r, res_w),
                                     stdout=self.log, stderr=self.log)
        os.close(cmd_r)
        os.close(res_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read(self):
        while b"\0" not in self.buf:
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout):
        end = time.time() + timeout
        while time.time() < end:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())
        raise RuntimeError("no %s within %d s" % (method, timeout))

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Page:
    def __init__(self, br, width=1600, height=1000):
        self.br = br
        tid = br.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.s = br.send("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Network.enable"):
            self.cmd(m)
        self.cmd("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def cmd(self, method, params=None):
        return self.br.send(method, params, self.s)

    def js(self, expr):
        r = self.cmd("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"].get("exception", {}).get("description")))
        return r["result"].get("value")

    def load(self, path, timeout=60):
        self.br.events.clear()
        self.cmd("Page.navigate", {"url": "file://" + path})
        self.br.wait_event("Page.loadEventFired", timeout)
        end = time.time() + timeout
        while time.time() < end and self.js("document.body && document.body.dataset.ready") != "1":
            time.sleep(0.05)
        errors = [e for e in self.br.events if e.get("method") == "Runtime.exceptionThrown"]
        net = [e["params"]["request"]["url"] for e in self.br.events
               if e.get("method") == "Network.requestWillBeSent"
               and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))]
        return errors, net

    def screenshot(self, path):
        data = self.cmd("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def export(config, out, *extra):
    t = time.time()
    subprocess.run([CLI, os.path.join(SRC, "samples/configs", config), "-o", out, *extra], check=True)
    print("     wrote %s (%.1f MB) in %.2f s" % (os.path.basename(out), os.path.getsize(out) / 1e6, time.time() - t))


def side(page):
    return page.js("document.getElementById('side').innerText")


def main():
    exe = find_chromium()
    if not exe:
        print("html_viewer: SKIPPED: chromium is not installed (scripts/setup.sh test installs Debian's chromium)")
        return 77
    os.makedirs(OUT, exist_ok=True)
    llama, llama_plan, llama_mod, ds = (os.path.join(OUT, n) for n in (
        "llama-7b.html", "llama-7b-tp2.html", "llama-7b-module.html", "deepseek-v3.html"))
    export("huggyllama--llama-7b.config.json", llama)
    export("huggyllama--llama-7b.config.json", llama_plan, "--tp", "2")
    export("huggyllama--llama-7b.config.json", llama_mod, "--module", "model.layers.3", "--depth", "1")
    export("deepseek-ai--DeepSeek-V3.config.json", ds)
    profile = tempfile.mkdtemp(prefix="mt-chromium-")
    br = Browser(exe, profile)
    try:
        page = Page(br)
        # ---- llama-7b
        errors, net = page.load(llama)
        check(not errors, "llama-7b: no script error %s" % [e["params"]["exceptionDetails"].get("text") for e in errors])
        check(not net, "llama-7b: no network request %s" % net)
        groups = page.js("metatrace.groups()")
        check(len(groups) == 1 and groups[0]["reps"] == 32 and groups[0]["folded"] and groups[0]["list"] == "model.layers",
              "llama-7b: the 32 identical layers are one folded group: %s" % groups)
        v = page.js("metatrace.view()")
        check(v["module"] == "model" and "g0" in v["items"], "llama-7b: the first view is 'model' with the group: %s" % v)
        page.screenshot(os.path.join(OUT, "llama-7b.png"))
        # unfold in the module tree (a click on the group's row) and in the graph
        page.js("document.querySelector('#tree .row.group').click()")
        rows = page.js("document.querySelectorAll('#tree .row').length")
        check(rows >= 32 + 5, "llama-7b: the tree lists the 32 layers once the group row is clicked (%d rows)" % rows)
        page.js("metatrace.unfold(0)")
        v = page.js("metatrace.view()")
        entries = [k for k in v["items"] if k.startswith("m")]
        check("g0" not in v["items"] and len(entries) >= 32, "llama-7b: unfolded, the graph shows the layers (%d modules)" % len(entries))
        page.screenshot(os.path.join(OUT, "llama-7b-unfolded.png"))
        hits = page.js("metatrace.search('layers.31.self_attn.q_proj')")
        check("model_layers_31_self_attn_q_proj" in hits, "llama-7b: search finds layer 31's q_proj: %s" % hits[:3])
        text = page.js("metatrace.select('model_layers_31_self_attn_q_proj')")
        # hand arithmetic: hidden 4096, float16; FLOPs 2*rows*in*out at the sizing's
        # bound shapes, batch 1 x seq 2048 (max_position_embeddings): 2*2048*4096*4096
        check(text and "[batch, seq, 4096]" in text and "[4096, 4096] float16" in text,
              "llama-7b: the panel shows q_proj's output shape and its weight [4096, 4096] float16")
        check(text and "32.00 MiB" in text, "llama-7b: the weight is 4096*4096*2 B = 32.00 MiB")
        check(text and "68,719,476,736" in text, "llama-7b: q_proj FLOPs 2*2048*4096*4096 = 68,719,476,736")
        check(text and "model.layers.31.self_attn.q_proj" in text, "llama-7b: the panel names the module path")
        page.screenshot(os.path.join(OUT, "llama-7b-selected.png"))
        # ---- --module PATH --depth N: the page opens at layer 3, one level of its tree open
        errors, net = page.load(llama_mod)
        check(not errors and not net, "llama-7b --module: loads, no error, no request")
        v = page.js("metatrace.view()")
        check(v["module"] == "model.layers.3",
              "llama-7b --module model.layers.3: the first view is layer 3: %s" % v["module"])
        tree = page.js("metatrace.tree()")
        # depth 1 below layer 3: its children (self_attn, mlp, the two norms) listed, theirs not
        check("model.layers.3.self_attn" in tree and "model.layers.3.mlp" in tree and
              "model.layers.3.self_attn.q_proj" not in tree,
              "llama-7b --depth 1: layer 3's children listed, not their children: %s" % tree)
        check(page.js("document.querySelector('#tree .row.current') && document.querySelector('#tree .row.current').dataset.m") is not None,
              "llama-7b --module: the tree marks the module being viewed")
        page.screenshot(os.path.join(OUT, "llama-7b-module.png"))
        # ---- the plan view
        errors, net = page.load(llama_plan)
        check(not errors and not net, "llama-7b --tp 2: loads, no error, no request")
        text = page.js("metatrace.select('model_layers_0_self_attn_q_proj')") or ""
        check("colwise, dim 0 in 2 blocks" in text and "[2048, 4096]" in text,
              "llama-7b --tp 2: q_proj is colwise, [2048, 4096] per rank")
        text = page.js("metatrace.select('model_layers_0_self_attn_o_proj')") or ""
        check("rowwise, dim 1 in 2 blocks" in text and "[4096, 2048]" in text,
              "llama-7b --tp 2: o_proj is rowwise, [4096, 2048] per rank")
        # ---- DeepSeek-V3, full: 61 layers, 256 routed experts in 58 of them
        errors, net = page.load(ds, timeout=120)
        check(not errors, "DeepSeek-V3: no script error %s" % [e["params"]["exceptionDetails"].get("text") for e in errors])
        check(not net, "DeepSeek-V3: no network request")
        t = page.js("metatrace.timings")
        print("     DeepSeek-V3 (%d nodes): interactive %.0f ms after navigation (JSON.parse %.0f ms, indexes %.0f ms, first view %.0f ms)"
              % (page.js("metatrace.nodes"), t["interactive"], t["parse"], t["index"], t["firstView"]))
        check(t["interactive"] < TTI_LIMIT_MS, "DeepSeek-V3: interactive within %d ms" % TTI_LIMIT_MS)
        groups = page.js("metatrace.groups()")
        layer_groups = sorted((g["label"], g["reps"]) for g in groups if g["list"] == "model.layers")
        check([r for _, r in layer_groups] == [3, 58], "DeepSeek-V3: layers fold as 3 dense + 58 MoE: %s" % layer_groups)
        experts = [g for g in groups if g["list"].endswith(".mlp.experts")]
        check(len(experts) == 58 and all(g["reps"] == 256 and g["folded"] for g in experts),
              "DeepSeek-V3: each MoE layer's 256 experts are one folded group (%d groups)" % len(experts))
        page.screenshot(os.path.join(OUT, "deepseek-v3.png"))
        check(page.js("metatrace.open('model.layers.3.mlp')"), "DeepSeek-V3: opens model.layers.3.mlp")
        v = page.js("metatrace.view()")
        gid = next(g["id"] for g in groups if g["list"] == "model.layers.3.mlp.experts")
        check("g%d" % gid in v["items"] and len(v["items"]) < 80,
              "DeepSeek-V3: layer 3's MoE block shows the experts as one group (%d items)" % len(v["items"]))
        page.screenshot(os.path.join(OUT, "deepseek-v3-moe.png"))
        t0 = time.time()
        page.js("metatrace.unfold(%d)" % gid)
        v = page.js("metatrace.view()")
        check(len([k for k in v["items"] if k.startswith("m")]) >= 256,
              "DeepSeek-V3: unfolded, the 256 experts are drawn (%d items, layout %.0f ms, %.1f s in all)"
              % (len(v["items"]), v["layout_ms"], time.time() - t0))
        page.screenshot(os.path.join(OUT, "deepseek-v3-experts.png"))
        hits = page.js("metatrace.search('layers.60.mlp.experts.255.down_proj')")
        check("model_layers_60_mlp_experts_255_down_proj" in hits, "DeepSeek-V3: search finds the last expert's down_proj")
        text = page.js("metatrace.select('model_layers_60_mlp_experts_255_down_proj')") or ""
        # moe_intermediate_size 2048 -> hidden 7168; bf16: 7168*2048*2 B = 28.00 MiB
        check("[7168, 2048] bfloat16" in text and "28.00 MiB" in text and ", 7168]" in text,
              "DeepSeek-V3: the panel shows down_proj's weight [7168, 2048] bfloat16, 28.00 MiB")
        page.screenshot(os.path.join(OUT, "deepseek-v3-selected.png"))
    finally:
        br.close()
        shutil.rmtree(profile, ignore_errors=True)
    print("html_viewer: %d failure(s); screenshots in %s" % (len(failures), OUT))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
