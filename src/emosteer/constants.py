"""Numbers fixed by the report and the original features, written once."""

SAMPLE_RATE = 32_000
N_FFT = 1024
HOP_LENGTH = 320
N_MELS = 64
FMIN = 50.0
FMAX = 14_000.0

STEER_DIM = 128  # width of the post-ReLU valence/arousal activations that feedback and steering use
REPORT_STRENGTH = 5.0  # steering strength the report used
COARSE_GRID = 3  # the report's "9-bin" grid (3x3)
FINE_GRID = 5  # the report's "25-bin" grid (5x5)
IDW_EPS = 0.1  # inverse-distance weight w = 1 / (d + IDW_EPS), the report's formula
MIN_FRAMES = 16  # four 2x2 average pools need at least 16 frames to leave one

# Upper bounds of the params and flags that multiply work or memory, shared by params.yaml's schema
# and the commands' flags: generous, so that an extra zero (-S data.frames=1000000) is one line
# before any work starts instead of hours of work or a machine out of memory.
MAX_FRAMES = 6001  # 60 s of audio per clip or window; one clip-pass at T = 6001 is 60 times T = 101
MAX_CLIPS = 100_000  # synthetic clips x segments: their features are 2.6 GB at T = 101
MAX_CLIP_SECONDS = 60.0  # a synthetic clip is synthesized whole in memory
MIN_CLIP_SECONDS = 0.05
MAX_SEGMENTS = 1_000  # segments per synthetic clip
MAX_EPOCHS = 1_000
MAX_BATCH = 1_024  # clips per forward call: activations of 1024 clips at T = 101 are about 1.7 GB
MAX_FORWARD_PASSES = 16  # the report's model makes 2; each pass is a pass of the backbone
MAX_STRENGTHS = 100  # each strength in the dev search is a steered pass over every dev clip

# The choices params.yaml offers, written once: the modules that act on them and the params schema
# both import them from here (so the schema does not import the code that implements them).
FRONTENDS = ("original", "panns")
SPLIT_MODES = ("group", "original")
DROP_REASONS = ("low_rate", "short")  # data.drop: clips below 2 x FMAX Hz, clips shorter than the window
UNIT_RANGE = (-1.0, 1.0)  # valence and arousal labels, everywhere after the data stage
LOSS_PASSES = ("last", "mean")
# train.heads: closed-form read-outs (emosteer.model.readout) and gradient-trained heads
CLOSED_FORM_HEADS = ("ridge", "ridge_pca")
HEADS = (*CLOSED_FORM_HEADS, "trained")
FALLBACKS = ("nearest",)
DEVICES = ("auto", "cpu", "cuda")
AMPS = ("off", "bf16", "fp16")
