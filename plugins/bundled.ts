/**
 * Registers every plugin that ships with clknn, explicitly, kind by kind.
 *
 * @module
 */
import { createRegistries, type Registries } from "../core/registries.ts";
import { fashionMnist } from "../datasets/fashion_mnist.ts";
import { cifar10, cifar100 } from "../datasets/cifar.ts";
import { stl10 } from "../datasets/stl10.ts";
import { imageFolder } from "../datasets/image_folder.ts";
import { synthetic } from "../datasets/synthetic.ts";
import { native } from "./backends/native.ts";
import { cpu } from "./backends/cpu.ts";
import { wasm } from "./backends/wasm.ts";
import { tensorflow, tensorflowGpu } from "./backends/tensorflow.ts";
import { webgpu } from "./backends/webgpu.ts";
import { autoPlugin } from "./backends/auto.ts";
import { resnet18, resnet34 } from "./backbones/resnet.ts";
import { smallConvnet } from "./backbones/small_convnet.ts";
import { linearCluster, mlpCluster, mlpInstance } from "./heads/mlp.ts";
import { randomResizedCrop } from "./augmentations/random_resized_crop.ts";
import { horizontalFlip } from "./augmentations/horizontal_flip.ts";
import { colorJitter } from "./augmentations/color_jitter.ts";
import { randomGrayscale } from "./augmentations/random_grayscale.ts";
import { gaussianBlur } from "./augmentations/gaussian_blur.ts";
import { instanceNtXentLoss } from "./losses/instance_ntxent.ts";
import { clusterContrastiveLoss } from "./losses/cluster_contrastive.ts";
import { doubleContrastiveLoss } from "./losses/double_contrastive.ts";
import { scan } from "./losses/scan.ts";
import { selfLabel } from "./losses/self_label.ts";
import { exactCosine } from "./search/exact_cosine.ts";
import { acc, ari, nmi } from "./metrics/clustering_metrics.ts";
import { terminal } from "./reporters/terminal.ts";
import { jsonl } from "./reporters/jsonl.ts";
import { dashboardReporter } from "./reporters/dashboard/reporter.ts";

/** Adds the bundled plugins to `registries`. */
export function registerBundled(registries: Registries): Registries {
  registries.dataset.register(fashionMnist);
  registries.dataset.register(cifar10);
  registries.dataset.register(cifar100);
  registries.dataset.register(stl10);
  registries.dataset.register(imageFolder);
  registries.dataset.register(synthetic);

  registries.backend.register(native);
  registries.backend.register(wasm);
  registries.backend.register(cpu);
  registries.backend.register(tensorflow);
  registries.backend.register(tensorflowGpu);
  registries.backend.register(webgpu);
  // auto tries the others through this registry, so it imports none of them
  registries.backend.register(autoPlugin(registries.backend));

  registries.backbone.register(resnet18);
  registries.backbone.register(resnet34);
  registries.backbone.register(smallConvnet);

  registries.head.register(mlpInstance);
  registries.head.register(mlpCluster);
  registries.head.register(linearCluster);

  registries.augmentation.register(randomResizedCrop);
  registries.augmentation.register(horizontalFlip);
  registries.augmentation.register(colorJitter);
  registries.augmentation.register(randomGrayscale);
  registries.augmentation.register(gaussianBlur);

  registries.loss.register(instanceNtXentLoss);
  registries.loss.register(clusterContrastiveLoss);
  registries.loss.register(doubleContrastiveLoss);
  registries.loss.register(scan);
  registries.loss.register(selfLabel);

  registries.search.register(exactCosine);

  registries.metric.register(acc);
  registries.metric.register(nmi);
  registries.metric.register(ari);

  registries.reporter.register(terminal);
  registries.reporter.register(jsonl);
  registries.reporter.register(dashboardReporter);
  return registries;
}

/** Fresh registries holding every bundled plugin. */
export function bundledRegistries(): Registries {
  return registerBundled(createRegistries());
}
