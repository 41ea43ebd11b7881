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

# The choices params.yaml offers, written once: the modules that act on them and the params schema
# both import them from here (so the schema does not import the code that implements them).
DATA_SOURCES = ("synthetic", "features_h5", "emo_soundscapes")
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
