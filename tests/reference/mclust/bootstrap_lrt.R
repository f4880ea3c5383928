# Reference bootstrap likelihood-ratio test from R's mclust on Old Faithful.
#
# Regenerate from the repository root:
#     Rscript tests/reference/mclust/bootstrap_lrt.R
# Writes next to this script (located from Rscript's --file= argument; otherwise the
# working directory must be the repo root):
#   faithful_lrt.csv       data,model,n_components_null,n_components_alt,log_likelihood_null,
#                          log_likelihood_alt,lrt_observed,p_value,nboot,seed
#   faithful_lrt_boot.csv  data,model,n_components_null,replicate,lrt   (the bootstrap draws)
#
#   set.seed(1)
#   mclustBootstrapLRT(faithful, modelName = "EEE", nboot = 99, maxG = 4)
# tests G vs G + 1 for G = 1..4. The observed statistic 2 (logL(G+1) - logL(G)) is
# deterministic (fits from the default hc start, as in mclustBIC); the bootstrap draws and
# p-values depend on R's RNG stream: for each G, 99 parametric samples are drawn with
# sim() from the G-component fit, and both the G- and (G+1)-component models are refitted
# on each with em() started from the fitted parameters of the original data. A draw whose
# LRT is NA is redrawn. p = (1 + #{boot >= observed}) / (nboot + 1).

# The shared definitions (mclust, script_dir(), fmt(), MODELS, DATA) live in common.R.
here <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
source(file.path(if (length(here) == 1) dirname(normalizePath(sub("^--file=", "", here)))
                 else file.path(getwd(), "tests", "reference", "mclust"), "common.R"))

MODEL <- "EEE"; NBOOT <- 99; MAXG <- 4; SEED <- 1
X <- datasets::faithful

set.seed(SEED)
lrt <- mclustBootstrapLRT(X, modelName = MODEL, nboot = NBOOT, maxG = MAXG, verbose = FALSE)
print(lrt)

# Log-likelihoods of the fits behind the observed statistics (same hc start as mclustBIC).
bic <- mclustBIC(X, G = 1:(MAXG + 1), modelNames = MODEL, verbose = FALSE)
loglik <- sapply(1:(MAXG + 1), function(g) summary(bic, X, G = g, modelNames = MODEL)$loglik)
stopifnot(max(abs(lrt$obs - 2 * diff(loglik))) < 1e-8 * max(abs(lrt$obs)))
stopifnot(!anyNA(lrt$boot))

G <- lrt$G
out <- data.frame(data = "faithful", model = MODEL, n_components_null = G,
                  n_components_alt = G + 1, log_likelihood_null = fmt(loglik[G]),
                  log_likelihood_alt = fmt(loglik[G + 1]), lrt_observed = fmt(lrt$obs),
                  p_value = fmt(lrt$p.value), nboot = NBOOT, seed = SEED)
path <- file.path(script_dir(), "faithful_lrt.csv")
write.csv(out, path, row.names = FALSE, quote = FALSE)
cat("wrote", path, "\n")

boot <- do.call(rbind, lapply(seq_along(G), function(j)
  data.frame(data = "faithful", model = MODEL, n_components_null = G[j],
             replicate = seq_len(NBOOT), lrt = fmt(lrt$boot[, j]))))
path <- file.path(script_dir(), "faithful_lrt_boot.csv")
write.csv(boot, path, row.names = FALSE, quote = FALSE)
cat("wrote", path, "\n")
